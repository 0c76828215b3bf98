import { useTestDatabase } from '@auditrum/test-kit';
import { describe, expect, it } from 'vitest';
import { inTransaction } from '../src/db/queryable.js';

// Auditrum's DDL and restores run through inTransaction(): a connection killed midway must fail the call, not the
// process (pg-pool does not listen for a checked-out client's 'error' event; an unheard one would be thrown).
const db = useTestDatabase();

describe('inTransaction', () => {
  it('rejects when its connection is killed midway, and the pool serves the next call', async () => {
    const pool = db.openPool({ max: 1 });
    const killed = inTransaction(pool, async (client) => {
      await client.query('CREATE TABLE half_done (id int)');
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await db.pool.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
      await client.query('SELECT pg_sleep(1)');
    });
    await expect(killed).rejects.toThrow(/terminat|connection/);
    // Nothing of the transaction stayed, and the broken connection was not handed out again.
    const { rows } = await pool.query<{ exists: boolean }>("SELECT to_regclass('half_done') IS NOT NULL AS exists");
    expect(rows).toEqual([{ exists: false }]);
  });
});
