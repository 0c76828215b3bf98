import type pg from 'pg';

/** A pool or a connected client. */
export type Queryable = pg.Pool | pg.ClientBase;

// Not `instanceof pg.Pool`: the caller's pool may come from another copy of pg.
export function isPool(db: Queryable): db is pg.Pool {
  return 'totalCount' in db;
}

/** Hears a checked-out connection's 'error' event; the query in flight, if any, gets the error itself. */
export const ignoreConnectionError = (): void => undefined;

/**
 * Checks a connection out of `pool` with `ignoreConnectionError` already listening. A connection that dies while
 * checked out (killed, a server restart) emits 'error', and an 'error' no one hears ends the process: pg-pool
 * listens only while a connection is idle. The listener is added in pg-pool's callback, not after `await
 * pool.connect()`: pg-pool hands a new connection over from within its parse of the server's ReadyForQuery, and when
 * the same TCP chunk also holds a FATAL (a backend terminated just as it became ready), pg emits 'error' before any
 * awaiting code runs.
 */
export function checkOut(pool: pg.Pool): Promise<pg.PoolClient> {
  return new Promise((resolve, reject) => {
    pool.connect((error, client) => {
      if (error || client === undefined) {
        reject(error ?? new Error('auditrum: the pool gave no connection'));
        return;
      }
      client.on('error', ignoreConnectionError);
      resolve(client);
    });
  });
}

/**
 * Runs `work` on one connection of `db`: a pool's, checked out (see `checkOut`) and released, or `db` itself when it
 * is a client. A broken connection goes back to the pool, which drops it.
 */
export async function onOneConnection<T>(db: Queryable, work: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  if (!isPool(db)) return work(db);
  const client = await checkOut(db);
  try {
    return await work(client);
  } finally {
    client.removeListener('error', ignoreConnectionError);
    client.release();
  }
}

/**
 * What a transaction run as a superuser or the schema's owner searches: pg_catalog alone. Where another role (the
 * application's) may create in a schema of the session's search_path (public), a look-alike of a built-in made there
 * that takes an argument's type exactly (quote_ident(name), =(oid, regclass)) is chosen over the built-in whatever
 * the order (CVE-2018-1058), and would run with those rights.
 */
export const SAFE_SEARCH_PATH_LOCAL = 'SET LOCAL search_path = pg_catalog, pg_temp';

/**
 * Runs `work` in a transaction on one connection, committing unless `rollback` is set or it throws. DDL of
 * Auditrum always goes through here, so a failure changes nothing. `safeSearchPath`: the transaction searches
 * pg_catalog alone (SAFE_SEARCH_PATH_LOCAL), for work run with the owner's rights.
 */
export async function inTransaction<T>(
  db: Queryable,
  work: (client: pg.ClientBase) => Promise<T>,
  options: { rollback?: boolean; safeSearchPath?: boolean } = {},
): Promise<T> {
  return onOneConnection(db, async (client) => {
    await client.query('BEGIN');
    try {
      if (options.safeSearchPath) await client.query(SAFE_SEARCH_PATH_LOCAL);
      const result = await work(client);
      await client.query(options.rollback ? 'ROLLBACK' : 'COMMIT');
      return result;
    } catch (error) {
      // If the connection itself broke, ROLLBACK fails too; the caller needs the original error.
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
}
