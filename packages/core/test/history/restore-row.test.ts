import type { Auditrum } from '@auditrum/core';
import { createAuditrum, RestoreError } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changesAfter, grantRestoreReader, lastChangeId, rowsAsText } from './restore-support.js';

// restore({ table, key, at | beforeChange }): a row back to its state at a point of its history.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let audit: Auditrum;

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  await grantRestoreReader(db.pool, role.name);
  await app.query(`CREATE TABLE docs (id int PRIMARY KEY, title text, tags text[], meta jsonb, due date,
    price numeric, secret text)`);
  const owner = createAuditrum({ pool: db.pool, partitions: false });
  await owner.track('public.docs', { exclude: ['secret'] });
  await owner.close();
  audit = createAuditrum({ pool: app, partitions: false });
});
afterAll(async () => {
  await audit.close();
});

/** The time of a change, exactly (microseconds and offset), as restore takes it. */
async function timeOf(changeId: string): Promise<string> {
  const { rows } = await db.pool.query<{ at: string }>(
    `SELECT to_json(changed_at) #>> '{}' AS at FROM auditrum.changes WHERE id = $1`,
    [changeId],
  );
  return rows[0]?.at ?? '';
}

describe('restore', () => {
  it('puts a row back to its state at a time, typed, reversing every change since', async () => {
    await app.query(`INSERT INTO docs VALUES (1, 'v1', '{a,b}', '{"x": 1}', '2024-02-29', 1.50, 's')`);
    const inserted = await lastChangeId(db.pool);
    const v1 = await rowsAsText(app, 'docs', 'id = 1');
    await app.query(`UPDATE docs SET title = 'v2', tags = '{}' WHERE id = 1`);
    const second = await lastChangeId(db.pool);
    await app.query(`UPDATE docs SET meta = '{"x": 2}', due = NULL, price = 2 WHERE id = 1`);
    const third = await lastChangeId(db.pool);
    const mark = third;

    const result = await audit.restore({ table: 'docs', key: 1, at: await timeOf(inserted) }, { reason: 'back to v1' });

    expect(await rowsAsText(app, 'docs', 'id = 1')).toEqual(v1);
    expect(result.plan.statements).toMatchObject([{ operation: 'UPDATE', reverts: [second, third] }]);
    expect(result.plan.statements[0]?.diff).toEqual([
      { column: 'title', from: 'v2', to: 'v1' },
      { column: 'tags', from: [], to: ['a', 'b'] },
      { column: 'meta', from: { x: 2 }, to: { x: 1 } },
      { column: 'due', from: null, to: '2024-02-29' },
      { column: 'price', from: 2, to: 1.5 },
    ]);
    expect(await changesAfter(db.pool, mark)).toMatchObject([
      { operation: 'UPDATE', context: { source: 'restore', reason: 'back to v1', reverts: [second, third] } },
    ]);
  });

  it('restores to just before a change, and deletes or re-inserts a row that did not or did exist then', async () => {
    await app.query(`INSERT INTO docs VALUES (2, 'a', NULL, NULL, NULL, NULL, NULL)`);
    const insert = await lastChangeId(db.pool);
    await app.query(`UPDATE docs SET title = 'b' WHERE id = 2`);
    const update = await lastChangeId(db.pool);
    await audit.restore({ table: 'docs', key: 2, beforeChange: update }, { reason: 'r' });
    expect(await rowsAsText(app, 'docs', 'id = 2')).toEqual(['(2,a,,,,,)']);

    const removed = await audit.restore({ table: 'docs', key: 2, beforeChange: insert }, { reason: 'r' });
    expect(removed.plan.statements.map((s) => s.operation)).toEqual(['DELETE']);
    expect(await rowsAsText(app, 'docs', 'id = 2')).toEqual([]);

    // The excluded column was never recorded: the row comes back only when forced, without it.
    const position = { table: 'docs', key: 2, beforeChange: removed.changeIds[0] as string };
    await expect(audit.restore(position, { reason: 'r' })).rejects.toThrow(
      "column secret: the table's only/exclude rules",
    );
    const back = await audit.restore(position, { reason: 'r', force: true });
    expect(back.plan.statements.map((s) => s.operation)).toEqual(['INSERT']);
    expect(await rowsAsText(app, 'docs', 'id = 2')).toEqual(['(2,a,,,,,)']);
  });

  it('refuses a value it cannot know (an excluded column changed since), unless forced', async () => {
    await app.query(`INSERT INTO docs VALUES (3, 'x', NULL, NULL, NULL, NULL, 'secret 1')`);
    const insert = await lastChangeId(db.pool);
    await app.query(`DELETE FROM docs WHERE id = 3`);
    const error = (await audit
      .restore({ table: 'docs', key: 3, beforeChange: (BigInt(insert) + 1n).toString() }, { reason: 'r' })
      .catch((e: unknown) => e)) as RestoreError;
    expect(error.kind).toBe('unrestorable');
    expect(error.plan?.unrestorable).toEqual([
      expect.objectContaining({ column: 'secret', reason: 'excluded', blocking: true }),
    ]);
    await audit.restore(
      { table: 'docs', key: 3, beforeChange: (BigInt(insert) + 1n).toString() },
      { reason: 'r', force: true },
    );
    expect(await rowsAsText(app, 'docs', 'id = 3')).toEqual(['(3,x,,,,,)']);
  });

  it('a row of 1,000 versions: one statement reverses them all, its audit row lists the first 100 and the total', async () => {
    await app.query(`INSERT INTO docs VALUES (4, 'v0', NULL, NULL, NULL, 0, NULL)`);
    const insert = await lastChangeId(db.pool);
    for (let i = 1; i <= 1000; i++) await app.query('UPDATE docs SET price = $1 WHERE id = 4', [i]);
    const mark = await lastChangeId(db.pool);
    const result = await audit.restore({ table: 'docs', key: 4, at: await timeOf(insert) }, { reason: 'r' });
    expect(result.plan.statements[0]?.reverts).toHaveLength(1000);
    const [written] = await changesAfter(db.pool, mark);
    expect(written?.context.reverts).toHaveLength(100);
    expect(written?.context.reverts_total).toBe(1000);
    expect(written?.new_values).toEqual({ price: 0 });
  });

  it('restores a row that existed before tracking, rebuilt backwards from the live row', async () => {
    await app.query(`CREATE TABLE legacy (id int PRIMARY KEY, a text, b int)`);
    await app.query(`INSERT INTO legacy VALUES (1, 'old a', 1)`);
    const owner = createAuditrum({ pool: db.pool, partitions: false });
    await owner.track('public.legacy');
    await owner.close();
    await app.query(`UPDATE legacy SET a = 'new a' WHERE id = 1`);
    const first = await lastChangeId(db.pool);
    await app.query('UPDATE legacy SET b = 2 WHERE id = 1');
    const result = await audit.restore({ table: 'legacy', key: 1, beforeChange: first }, { reason: 'r' });
    expect(result.plan.statements[0]?.diff).toEqual([
      { column: 'a', from: 'new a', to: 'old a' },
      { column: 'b', from: 2, to: 1 },
    ]);
    expect(await rowsAsText(app, 'legacy', 'id = 1')).toEqual(['(1,"old a",1)']);
  });

  it('refuses to restore an old key whose row now has another key (it would copy the row)', async () => {
    await app.query(`INSERT INTO docs VALUES (5, 'five', NULL, NULL, NULL, NULL, NULL)`);
    const insert = await lastChangeId(db.pool);
    await app.query('UPDATE docs SET id = 50 WHERE id = 5');
    await expect(
      audit.restore({ table: 'docs', key: 5, at: await timeOf(insert) }, { reason: 'r', force: true }),
    ).rejects.toThrow(/row 5 of public.docs got the key 50 by change #\d+ since then/);
  });

  it.each([
    [{ table: 'docs', key: 1, at: '2024-05-01T10:00:00' }, 'has no time zone'],
    [{ table: 'docs', key: 1, at: '2024-02-30T10:00:00Z' }, 'is not a valid date and time'],
    [{ table: 'docs', key: 1, at: 'yesterday' }, 'is not an ISO 8601 time with a zone'],
    [{ table: 'docs', key: 1 }, 'give either the time to restore the row to (at) or the change'],
    [{ table: 'docs', key: 1, at: '2024-05-01T10:00:00Z', beforeChange: 1 }, 'give either the time'],
    [{ table: 'docs', key: 1, beforeChange: 'x' }, 'is not a change id'],
    [{ table: 'docs', key: 1, beforeChange: 999999 }, 'there is no change #999999'],
    [{ table: 'docs', key: 2, beforeChange: '1' }, 'change #1 is a change of row 1 of public.docs, not of row 2'],
    [{ table: 'nope', key: 1, beforeChange: '1' }, 'no tracked table "nope"'],
    [{ table: 'docs; DROP TABLE docs', key: 1, beforeChange: '1' }, 'no tracked table'],
    [{ table: 'docs', key: { id: 1, other: 2 }, beforeChange: '1' }, 'the key of table public.docs is (id)'],
  ])('refuses %j with a clear error and changes nothing', async (target, message) => {
    const mark = await lastChangeId(db.pool);
    const error = await audit
      .restore(target as { table: string; key: number }, { reason: 'r' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RestoreError);
    expect((error as Error).message).toContain(message);
    expect(await changesAfter(db.pool, mark)).toEqual([]);
  });
});
