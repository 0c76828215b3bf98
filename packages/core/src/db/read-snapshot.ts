import type pg from 'pg';

/**
 * Runs `work` in one read-only REPEATABLE READ transaction on `client`, which must not be in a transaction yet: what
 * it reads in several statements is one snapshot (a write or an ALTER TABLE committed in between is not half seen).
 */
export async function inReadSnapshot<T>(
  client: pg.ClientBase,
  work: (client: pg.ClientBase) => Promise<T>,
): Promise<T> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    // If the connection itself broke, ROLLBACK fails too; the caller needs the original error.
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
