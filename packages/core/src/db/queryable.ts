import type pg from 'pg';

/** A pool or a connected client. */
export type Queryable = pg.Pool | pg.ClientBase;

// Not `instanceof pg.Pool`: the caller's pool may come from another copy of pg.
export function isPool(db: Queryable): db is pg.Pool {
  return 'totalCount' in db;
}

/**
 * Runs `work` on one connection of `db`: a pool's, checked out and released, or `db` itself when it is a client.
 * A connection that dies midway (killed, a server restart) fails the query in flight and then emits 'error' as
 * well: pg-pool listens only while a connection is idle, and an 'error' no one hears ends the process, so it is
 * heard here until the connection goes back to the pool (which drops a broken one).
 */
export async function onOneConnection<T>(db: Queryable, work: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  if (!isPool(db)) return work(db);
  const client = await db.connect();
  const heard = (): void => undefined;
  client.on('error', heard);
  try {
    return await work(client);
  } finally {
    client.removeListener('error', heard);
    client.release();
  }
}

/**
 * Runs `work` in a transaction on one connection, committing unless `rollback` is set or it throws. DDL of
 * Auditrum always goes through here, so a failure changes nothing.
 */
export async function inTransaction<T>(
  db: Queryable,
  work: (client: pg.ClientBase) => Promise<T>,
  options: { rollback?: boolean } = {},
): Promise<T> {
  return onOneConnection(db, async (client) => {
    await client.query('BEGIN');
    try {
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
