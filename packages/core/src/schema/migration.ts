/** One numbered migration from packages/core/sql, compiled into src/generated/migrations.ts. */
export interface Migration {
  readonly id: number;
  /** The file it came from, e.g. `000001.sql`. */
  readonly name: string;
  /** Its SQL, with `:AUDITRUM_SCHEMA` standing for the quoted schema name. */
  readonly sql: string;
}
