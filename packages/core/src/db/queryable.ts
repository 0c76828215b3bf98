import type pg from 'pg';

/** A pool or a connected client. */
export type Queryable = pg.Pool | pg.ClientBase;

// Not `instanceof pg.Pool`: the caller's pool may come from another copy of pg.
export function isPool(db: Queryable): db is pg.Pool {
  return 'totalCount' in db;
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
  const client = isPool(db) ? await db.connect() : db;
  try {
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
  } finally {
    if (isPool(db)) (client as pg.PoolClient).release();
  }
}
