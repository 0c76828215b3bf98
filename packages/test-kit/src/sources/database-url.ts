import type { PostgresServer } from '../postgres-server.js';

/** A server someone else runs; the test run only creates and drops its own databases on it. */
export function fromDatabaseUrl(url: string): PostgresServer {
  const { hostname, port } = new URL(url);
  return {
    description: `DATABASE_URL (${hostname}:${port || 5432})`,
    adminUrl: url,
    stop: async () => {},
  };
}
