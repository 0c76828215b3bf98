import { erase, migrate, seal, verify } from '@auditrum/core';
import { useEmptyDatabase } from '@auditrum/test-kit';
import { beforeAll, describe, expect, it } from 'vitest';
import { migrateUpTo } from './migrate-up-to.js';

// A log sealed by schema version 9's seal() (link format 1: one hash per value), then upgraded: its links must still
// verify, name a change, and take an erasure. Version 12 is the first with format 2.
const db = useEmptyDatabase();
const FORMAT_2 = 12;

/** Change rows `from`..`to` in the shape capture writes, by actors user-<n>. */
async function insertChanges(from: number, to: number): Promise<void> {
  await db.pool.query(
    `INSERT INTO auditrum.changes (table_id, operation, row_key, old_values, new_values, actor_id, request_id, context)
     SELECT 1, 'UPDATE', g::text, jsonb_build_object('email', 'old' || g || '@example.com'),
       jsonb_build_object('email', 'new' || g || '@example.com'), $3 || g, 'req-' || g,
       jsonb_build_object('source', 'http', 'ip', '192.0.2.' || g)
     FROM generate_series($1::int, $2::int) g`,
    [from, to, 'user-'],
  );
}

async function formats(): Promise<[string, number][]> {
  const { rows } = await db.pool.query<{ change_id: string; format: number }>(
    'SELECT change_id::text, format FROM auditrum.chain ORDER BY seq',
  );
  return rows.map((r) => [r.change_id, r.format]);
}

beforeAll(async () => {
  await migrateUpTo(db.pool, FORMAT_2);
  // Version 9's seal(), with its own transaction in READ COMMITTED.
  await insertChanges(1, 3);
  await db.pool.query('SELECT * FROM auditrum.seal()');
  expect(await migrate(db.pool)).toMatchObject({ applied: expect.arrayContaining([FORMAT_2]) });
  await insertChanges(4, 5);
  await seal(db.pool, 'auditrum');
});

describe('links sealed before version 12 (format 1)', () => {
  it('still verify, beside the format 2 links sealed after the upgrade', async () => {
    expect(await formats()).toEqual([
      ['1', 1],
      ['2', 1],
      ['3', 1],
      ['4', 2],
      ['5', 2],
    ]);
    expect(await verify(db.pool, 'auditrum')).toMatchObject({ ok: true, problems: [], erased: [] });
  });

  it('still name a row changed', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`UPDATE auditrum.changes SET new_values = '{"email": "forged"}' WHERE id IN (2, 5)`);
      expect((await verify(client, 'auditrum')).problems.map((p) => [p.problem, p.changeId])).toEqual([
        ['changed', '2'],
        ['changed', '5'],
      ]);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('take an erasure: the row is reported erased, and a later change to it is named', async () => {
    const result = await erase(db.pool, 'auditrum', { subject: { actorId: 'user-2' }, reason: 'ticket 1' });
    expect(result).toMatchObject({ changes: 1, sealed: 1, unmatched: 0 });
    const verified = await verify(db.pool, 'auditrum');
    expect(verified.problems).toEqual([]);
    expect(verified.erased).toEqual([{ seq: '2', changeId: '2', erasureId: result.erasureId }]);
    // The erased link is checked against the erasure's digest (format 2, under the link's new salt).
    const { rows } = await db.pool.query<{ salted: boolean }>(
      'SELECT salt IS NOT NULL AS salted FROM auditrum.chain WHERE seq = 2',
    );
    expect(rows).toEqual([{ salted: true }]);
    await db.pool.query(`UPDATE auditrum.changes SET request_id = 'forged' WHERE id = 2`);
    expect((await verify(db.pool, 'auditrum')).problems.map((p) => [p.problem, p.changeId])).toEqual([
      ['changed', '2'],
    ]);
  });
});
