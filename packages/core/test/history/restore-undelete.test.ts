import type { Auditrum } from '@auditrum/core';
import { createAuditrum, RestoreError, withAuditContext } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changesAfter, grantRestoreReader, lastChangeId, rowsAsText } from './restore-support.js';

// The recycle bin (deletedRows) and undelete.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let audit: Auditrum;

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  await grantRestoreReader(db.pool, role.name);
  await app.query('CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL, seen_at timestamptz)');
  const owner = createAuditrum({ pool: db.pool, partitions: false });
  await owner.track('public.items');
  await owner.close();
  audit = createAuditrum({ pool: app, partitions: false });
  await app.query(`INSERT INTO items SELECT i, 'item ' || i, '2024-01-01T00:00:00Z' FROM generate_series(1, 6) i`);
  await withAuditContext({ actor: { id: 'bob' }, reason: 'cleanup', requestId: 'req-del' }, async () => {
    await app.query('DELETE FROM items WHERE id IN (1, 2)');
    await app.query('DELETE FROM items WHERE id = 3');
  });
  await app.query(`INSERT INTO items VALUES (2, 'item 2 again', NULL)`);
  await app.query('DELETE FROM items WHERE id = 4');
  await app.query(`UPDATE items SET id = 40 WHERE id = 5`);
});
afterAll(async () => {
  await audit.close();
});

describe('deletedRows', () => {
  it('lists rows deleted and not back since, newest first, a page at a time, with who deleted them and why', async () => {
    const first = await audit.deletedRows({ table: 'items', limit: 2 });
    expect(first.rows.map((row) => row.rowKey)).toEqual(['4', '3']);
    expect(first.rows[1]).toMatchObject({
      rowKey: '3',
      values: { id: 3, label: 'item 3', seen_at: '2024-01-01T00:00:00+00:00' },
      unknown: [],
      actorId: 'bob',
      requestId: 'req-del',
      reason: 'cleanup',
    });
    expect(first.next).toBe(first.rows[1]?.changeId);
    const second = await audit.deletedRows({ table: 'public.items', limit: 2, before: first.next as string });
    // Row 2 was inserted again; row 5 only changed its key (it is row 40 now): neither is in the bin.
    expect(second).toEqual({ rows: [expect.objectContaining({ rowKey: '1' })], next: null });
  });

  it.each([
    [{ table: 'nope' }, 'no tracked table "nope"'],
    [{ table: "items' OR '1'='1" }, 'no tracked table'],
    [{ table: 'items', limit: 0 }, 'the limit must be a whole number from 1 to 1000, not 0'],
    [{ table: 'items', limit: 1001 }, 'not 1001'],
    [{ table: 'items', limit: 'ten' }, 'not "ten"'],
    [{ table: 'items', before: 'abc' }, 'the before "abc" is not a change id'],
    [null, 'deletedRows() takes { table, limit?, before? }'],
  ])('refuses %j with a clear error', async (query, message) => {
    await expect(audit.deletedRows(query as { table: string })).rejects.toThrow(message);
  });
});

describe('undelete', () => {
  it('brings a deleted row back as it was, recorded as a restore of its DELETE', async () => {
    const [bin] = (await audit.deletedRows({ table: 'items', limit: 1 })).rows;
    const mark = await lastChangeId(db.pool);
    const result = await audit.undelete({ table: 'items', key: '4' }, { reason: 'wrong row', actor: { id: 'ops' } });
    expect(result.plan.statements[0]?.diff).toEqual([
      { column: 'id', to: 4 },
      { column: 'label', to: 'item 4' },
      { column: 'seen_at', to: '2024-01-01T00:00:00+00:00' },
    ]);
    expect(await rowsAsText(app, 'items', 'id = 4')).toEqual(['(4,"item 4","2024-01-01 00:00:00+00")']);
    expect(await changesAfter(db.pool, mark)).toMatchObject([
      {
        operation: 'INSERT',
        row_key: '4',
        actor_id: 'ops',
        context: { source: 'restore', reason: 'wrong row', reverts: [bin?.changeId] },
      },
    ]);
    expect((await audit.deletedRows({ table: 'items' })).rows.map((row) => row.rowKey)).toEqual(['3', '1']);
  });

  it('refuses a row that exists again, whether the log knows it or not', async () => {
    await expect(audit.undelete({ table: 'items', key: 2 }, { reason: 'r' })).rejects.toThrow(
      /row 2 of public.items is not deleted: its latest change, #\d+, is an INSERT/,
    );
    // Inserted unseen (capture bypassed by a superuser): only the live table knows, and the INSERT is refused, even
    // forced, rather than overwrite the row.
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL session_replication_role = replica');
      await client.query(`INSERT INTO items VALUES (1, 'unseen', NULL)`);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const mark = await lastChangeId(db.pool);
    const error = (await audit
      .undelete({ table: 'items', key: 1 }, { reason: 'r', force: true })
      .catch((e) => e)) as RestoreError;
    expect(error.plan?.conflicts).toEqual([
      expect.objectContaining({ kind: 'row-exists', rowKey: '1', forcible: false }),
    ]);
    expect(await rowsAsText(app, 'items', 'id = 1')).toEqual(['(1,unseen,)']);
    expect(await changesAfter(db.pool, mark)).toEqual([]);
  });

  it.each([
    [{ table: 'nope', key: 1 }, 'no tracked table "nope"'],
    [{ table: 'items', key: 'x' }, '"x" is not a valid integer for key column id of table public.items'],
    [{ table: 'items', key: [1, 2] }, 'give 1 value(s)'],
    [{ table: 'items', key: null }, 'is not a row key'],
    [{ table: 'items', key: 999 }, 'no change of row 999 of public.items is recorded'],
    [{ table: 'items', key: 6 }, 'row 6 of public.items is not deleted: its latest change'],
  ])('refuses %j with a clear error and changes nothing', async (target, message) => {
    const mark = await lastChangeId(db.pool);
    const error = await audit
      .undelete(target as { table: string; key: number }, { reason: 'r' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RestoreError);
    expect((error as RestoreError).message).toContain(message);
    expect(await changesAfter(db.pool, mark)).toEqual([]);
  });
});
