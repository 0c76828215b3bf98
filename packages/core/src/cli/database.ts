import pg from 'pg';
import type { TableInSearchPath } from './safe-search-path.js';
import { useSafeSearchPath } from './safe-search-path.js';

const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Runs `work` on a fresh connection to `url`, always closed afterwards; a failure to connect says so. The session
 * searches pg_catalog alone; `work` looks the tables a user names up in the search_path it connected with.
 */
export async function withDatabase<T>(
  url: string,
  work: (client: pg.Client, tableInSearchPath: TableInSearchPath) => Promise<T>,
): Promise<T> {
  const client = new pg.Client(cliConnection(url));
  // An idle connection that breaks must not crash the process with an unhandled 'error' event.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw cannotConnect(client, error);
  }
  try {
    const session = useSafeSearchPath(client, client);
    await session.ready;
    return await work(client, session.tableInSearchPath);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Runs `work` on a pool of one connection to `url`, ended afterwards, for a reader that streams in a transaction of
 * its own (a table as of a time: the pool's stream stops the server's query when the reader stops early, where one
 * on a plain client reads a result made whole first); a failure to connect says so, as withDatabase's.
 */
export async function withOneConnectionPool<T>(
  url: string,
  work: (pool: pg.Pool, tableInSearchPath: TableInSearchPath) => Promise<T>,
): Promise<T> {
  const config = cliConnection(url);
  const pool = new pg.Pool({ ...config, max: 1 });
  pool.on('error', () => undefined);
  // The first connection's search_path names the tables; every connection (one made again after a failure too)
  // gets the safe one before the pool hands it over.
  let first: ReturnType<typeof useSafeSearchPath> | undefined;
  pool.on('connect', (client) => {
    const session = useSafeSearchPath(pool, client);
    session.ready.catch(() => undefined);
    first ??= session;
  });
  try {
    try {
      await pool.query('SELECT 1');
    } catch (error) {
      // The host and port as pg reads them from the URL (and the PG* variables); a client made, not connected.
      throw cannotConnect(new pg.Client(config), error);
    }
    const session = first as ReturnType<typeof useSafeSearchPath>;
    await session.ready;
    return await work(pool, session.tableInSearchPath);
  } finally {
    await pool.end().catch(() => undefined);
  }
}

function cliConnection(url: string): pg.ClientConfig {
  return { connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, application_name: 'auditrum-cli' };
}

function cannotConnect(client: pg.Client, error: unknown): Error {
  return new Error(`cannot connect to the database at ${client.host}:${client.port}: ${errorMessage(error)}`);
}

/** An error's message, also for the AggregateError (empty message) of a refused connection to several addresses. */
export function errorMessage(error: unknown): string {
  if (error instanceof AggregateError && error.message === '') {
    return error.errors.map(errorMessage).join('; ');
  }
  if (error instanceof Error) return error.message || String((error as { code?: unknown }).code ?? error.name);
  return String(error);
}
