/** A PostgreSQL server the test run may create and drop databases on. */
export interface PostgresServer {
  /** Says where the server came from, for the one line the run prints. */
  readonly description: string;
  /** A superuser connection URL to its `postgres` database (or the server's default database). */
  readonly adminUrl: string;
  /** Stops the server if this run started it. */
  stop(): Promise<void>;
}
