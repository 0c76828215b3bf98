import type { Auditrum } from '@auditrum/core';
import { createAuditrum, RestoreError, withAuditContext } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changesAfter, grantRestoreReader, lastChangeId, rowsAsText } from './restore-support.js';

// revert(changeId): one change undone, with the values cast back to their column types, and audited as a restore.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let audit: Auditrum;

const ORIGINAL = `(1, 7, true, '2024-05-01T10:00:00.123456Z', '{"a": [1, 2], "b": null}', 12.3400,
  '{x,"y z",NULL}', '\\x00ff10', 'happy', 'first')`;

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  await grantRestoreReader(db.pool, role.name);
  await app.query(`CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`);
  await app.query(`CREATE TABLE things (id int PRIMARY KEY, n int, b bool, at timestamptz, doc jsonb,
    price numeric(12, 4), tags text[], blob bytea, feeling mood, note text)`);
  const owner = createAuditrum({ pool: db.pool, partitions: false });
  await owner.track('public.things');
  await owner.close();
  audit = createAuditrum({ pool: app, partitions: false });
});
afterAll(async () => {
  await audit.close();
});

async function freshThing(id: number): Promise<void> {
  await app.query(`INSERT INTO things VALUES ${ORIGINAL.replace('(1,', `(${id},`)}`);
}

async function changeIdOf(operation: string, rowKey: string): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>(
    `SELECT max(id)::text AS id FROM auditrum.change_log WHERE table_name = 'things' AND operation = $1 AND row_key = $2`,
    [operation, rowKey],
  );
  return rows[0]?.id ?? '';
}

describe('revert', () => {
  it('puts every column of an UPDATE back with its own type, and records the write as a restore', async () => {
    await freshThing(1);
    const before = await rowsAsText(app, 'things', 'id = 1');
    await app.query(`UPDATE things SET n = 8, b = false, at = '2025-01-01T00:00:00Z', doc = '[]', price = 99.5,
      tags = '{}', blob = '\\x01', feeling = 'sad', note = NULL WHERE id = 1`);
    const update = await changeIdOf('UPDATE', '1');
    const mark = await lastChangeId(db.pool);

    const result = await audit.revert(update, { reason: 'typo in ticket 12', actor: { id: 'ops-1', label: 'Olga' } });

    expect(await rowsAsText(app, 'things', 'id = 1')).toEqual(before);
    const written = await changesAfter(db.pool, mark);
    expect(written).toHaveLength(1);
    expect(result).toMatchObject({ applied: true, changeIds: [written[0]?.id], requestId: written[0]?.request_id });
    expect(written[0]).toMatchObject({
      operation: 'UPDATE',
      row_key: '1',
      actor_id: 'ops-1',
      old_values: { n: 8, b: false, doc: [], price: 99.5, tags: [], blob: '\\x01', feeling: 'sad', note: null },
      new_values: {
        n: 7,
        b: true,
        doc: { a: [1, 2], b: null },
        price: 12.34,
        tags: ['x', 'y z', null],
        blob: '\\x00ff10',
        feeling: 'happy',
        note: 'first',
      },
      context: { source: 'restore', reason: 'typo in ticket 12', actor_label: 'Olga', reverts: [update] },
    });
    expect(written[0]?.new_values?.at).toBe('2024-05-01T10:00:00.123456+00:00');
  });

  it('keeps every digit: numeric scale, integers over 2^53, numbers inside jsonb, a composite key of a bigint', async () => {
    await app.query('CREATE TABLE exact (a bigint, b text, amount numeric, doc jsonb, PRIMARY KEY (a, b))');
    const owner = createAuditrum({ pool: db.pool, partitions: false });
    await owner.track('public.exact');
    await owner.close();
    await app.query(
      `INSERT INTO exact VALUES (9007199254740993, 'k', 12345678901234567890.50, '{"p": 0.10, "n": 9007199254740993}')`,
    );
    const before = await rowsAsText(app, 'exact', 'true', 'a');
    await app.query(`UPDATE exact SET amount = 1, doc = '{}'`);
    const { rows } = await db.pool.query<{ id: string }>(
      `SELECT max(id)::text AS id FROM auditrum.change_log WHERE table_name = 'exact' AND operation = 'UPDATE'`,
    );
    await audit.revert(rows[0]?.id ?? '', { reason: 'r' });
    expect(await rowsAsText(app, 'exact', 'true', 'a')).toEqual(before);
    expect(before).toEqual(['(9007199254740993,k,12345678901234567890.50,"{""n"": 9007199254740993, ""p"": 0.10}")']);
  });

  it('reverts an INSERT by deleting the row (the original built an UPDATE with an empty SET)', async () => {
    await freshThing(2);
    const insert = await changeIdOf('INSERT', '2');
    const mark = await lastChangeId(db.pool);
    const result = await audit.revert(insert, { reason: 'created by mistake' });
    expect(result.plan.statements).toMatchObject([{ operation: 'DELETE', rowKey: '2', reverts: [insert] }]);
    expect((await app.query('SELECT 1 FROM things WHERE id = 2')).rowCount).toBe(0);
    const written = await changesAfter(db.pool, mark);
    expect(written).toMatchObject([
      { operation: 'DELETE', row_key: '2', context: { source: 'restore', reverts: [insert] } },
    ]);
  });

  it('reverts a DELETE by inserting the row back, typed', async () => {
    await freshThing(3);
    const before = await rowsAsText(app, 'things', 'id = 3');
    await app.query('DELETE FROM things WHERE id = 3');
    const deletion = await changeIdOf('DELETE', '3');
    await audit.revert(deletion, { reason: 'deleted by mistake' });
    expect(await rowsAsText(app, 'things', 'id = 3')).toEqual(before);
  });

  it('refuses a change of another row than the one named (the original never checked)', async () => {
    await freshThing(4);
    await freshThing(5);
    await app.query('UPDATE things SET n = 50 WHERE id = 5');
    const update = await changeIdOf('UPDATE', '5');
    const mark = await lastChangeId(db.pool);
    await expect(audit.revert(update, { table: 'things', key: 4, reason: 'x' })).rejects.toThrow(
      `change #${update} is a change of row 5 of public.things, not of row 4`,
    );
    await expect(audit.revert(update, { table: 'public.things', key: { id: 5 }, reason: 'x' })).resolves.toMatchObject({
      applied: true,
    });
    expect((await changesAfter(db.pool, mark)).map((c) => c.row_key)).toEqual(['5']);
  });

  it('refuses a later change of the same column, naming it, and overrides it when forced', async () => {
    await freshThing(6);
    await app.query('UPDATE things SET n = 61 WHERE id = 6');
    const first = await changeIdOf('UPDATE', '6');
    await app.query('UPDATE things SET n = 62 WHERE id = 6');
    const second = await changeIdOf('UPDATE', '6');
    await app.query(`UPDATE things SET note = 'other column' WHERE id = 6`);
    const mark = await lastChangeId(db.pool);

    const refused = await audit.revert(first, { reason: 'r' }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RestoreError);
    expect((refused as RestoreError).kind).toBe('conflict');
    expect((refused as RestoreError).message).toContain(`change #${second} (later than #${first}) changed n`);
    expect((refused as RestoreError).plan?.conflicts).toEqual([
      expect.objectContaining({ kind: 'changed-since', changeId: second, columns: ['n'], forcible: true }),
    ]);
    expect(await changesAfter(db.pool, mark)).toEqual([]);

    await audit.revert(first, { reason: 'r', force: true });
    expect((await app.query('SELECT n, note FROM things WHERE id = 6')).rows).toEqual([{ n: 7, note: 'other column' }]);
    const [written] = await changesAfter(db.pool, mark);
    expect(written?.context).toMatchObject({ reverts: [first], meta: { overrode: [second] } });
  });

  it('prints the plan on a dry run and writes nothing', async () => {
    await freshThing(7);
    await app.query(`UPDATE things SET n = 70, doc = '{"k": 1}' WHERE id = 7`);
    const update = await changeIdOf('UPDATE', '7');
    const mark = await lastChangeId(db.pool);
    const { plan, applied, changeIds } = await audit.revert(update, { dryRun: true });
    expect({ applied, changeIds }).toEqual({ applied: false, changeIds: [] });
    expect(plan).toEqual({
      operation: 'revert',
      statements: [
        {
          table: 'public.things',
          rowKey: '7',
          operation: 'UPDATE',
          sql:
            'UPDATE "public"."things" AS t SET "n" = v."n", "doc" = v."doc" FROM jsonb_to_record($1::jsonb) AS v("n" integer, "doc" jsonb), ' +
            'jsonb_to_record($2::jsonb) AS k("id" integer) WHERE t."id" = k."id"',
          params: ['{"n":7,"doc":{"a":[1,2],"b":null}}', '{"id":"7"}'],
          reverts: [update],
          diff: [
            { column: 'n', from: 70, to: 7 },
            { column: 'doc', from: { k: 1 }, to: { a: [1, 2], b: null } },
          ],
        },
      ],
      conflicts: [],
      unrestorable: [],
    });
    expect(await changesAfter(db.pool, mark)).toEqual([]);
  });

  it.each([
    ['abc', 'is not a change id'],
    ['1; DROP TABLE things', 'is not a change id'],
    [-1, 'is not a change id'],
    ['99999999999999999999', 'is not a change id'],
    ['999999999', 'there is no change #999999999'],
  ])('refuses change id %j with a clear error', async (id, message) => {
    const mark = await lastChangeId(db.pool);
    await expect(audit.revert(id as string, { reason: 'r' })).rejects.toThrow(message);
    expect(await changesAfter(db.pool, mark)).toEqual([]);
  });

  it.each([
    [{ table: 'nope', key: 1 }, 'no tracked table "nope"'],
    [{ table: 'things; DROP TABLE things', key: 1 }, 'no tracked table "things; DROP TABLE things"'],
    [{ table: 'things', key: 'abc' }, '"abc" is not a valid integer for key column id of table public.things'],
    [{ table: 'things', key: [1, 2] }, 'the key of table public.things is (id): give 1 value(s)'],
    [{ table: 'things', key: { nested: { a: 1 } } }, 'is not a row key'],
    [{ table: 'things' }, 'give both the table and the key'],
  ])('refuses row %j with a clear error and changes nothing', async (row, message) => {
    await freshThing(100 + Math.floor(Math.random() * 1e6));
    const { rows } = await db.pool.query<{ id: string }>('SELECT max(id)::text AS id FROM auditrum.changes');
    const mark = await lastChangeId(db.pool);
    await expect(audit.revert(rows[0]?.id ?? '', { ...(row as object), reason: 'r' })).rejects.toThrow(message);
    expect(await changesAfter(db.pool, mark)).toEqual([]);
    expect((await app.query(`SELECT to_regclass('things') IS NOT NULL AS ok`)).rows).toEqual([{ ok: true }]);
  });

  it('carries a hostile reason as data: it cannot end the context comment, and is capped', async () => {
    await freshThing(10);
    await app.query('UPDATE things SET n = 100 WHERE id = 10');
    const update = await changeIdOf('UPDATE', '10');
    const mark = await lastChangeId(db.pool);
    const reason = `*/ DELETE FROM things; /* \u0000 ${'é'.repeat(5000)}`;
    await audit.revert(update, { reason, actor: { id: '*/--', label: 'x'.repeat(1000) } });
    const [written] = await changesAfter(db.pool, mark);
    expect(written?.actor_id).toBe('*/--');
    expect(written?.context.source).toBe('restore');
    // NUL removed (jsonb cannot hold it), cut at 1,000 characters.
    expect(written?.context.reason).toBe(`${reason.replace('\u0000', '').slice(0, 999)}…`);
    expect((await app.query('SELECT count(*)::int AS n FROM things WHERE id = 10')).rows).toEqual([{ n: 1 }]);
  });

  it('is recorded with its context even when every long field is full of "*" (six bytes each as sent)', async () => {
    await freshThing(12);
    const insert = await changeIdOf('INSERT', '12');
    const mark = await lastChangeId(db.pool);
    const stars = (n: number) => '*'.repeat(n);
    await withAuditContext(
      { path: stars(1024), userAgent: stars(512), route: stars(512), requestId: 'req-stars' },
      () => audit.revert(insert, { reason: stars(1000), actor: { id: 'ops', label: stars(256) } }),
    );
    expect(await changesAfter(db.pool, mark)).toMatchObject([
      {
        actor_id: 'ops',
        request_id: 'req-stars',
        context: { source: 'restore', reason: `${stars(99)}…`, reverts: [insert] },
      },
    ]);
  });

  it("takes the actor, request and route of the caller's audit context (an admin request), with source restore", async () => {
    await freshThing(11);
    const insert = await changeIdOf('INSERT', '11');
    const mark = await lastChangeId(db.pool);
    const result = await withAuditContext(
      { actor: { id: 'admin-7' }, requestId: 'admin-req-1', route: '/audit/api/revert', source: 'http' },
      () => audit.revert(insert, { reason: 'r' }),
    );
    expect(result.requestId).toBe('admin-req-1');
    expect(await changesAfter(db.pool, mark)).toMatchObject([
      {
        actor_id: 'admin-7',
        request_id: 'admin-req-1',
        context: { source: 'restore', route: '/audit/api/revert', reverts: [insert] },
      },
    ]);
  });

  it('needs a reason and a well-formed actor to write, not for a dry run', async () => {
    await freshThing(8);
    const insert = await changeIdOf('INSERT', '8');
    const mark = await lastChangeId(db.pool);
    for (const options of [{}, { reason: '   ' }, { reason: 'r', actor: { id: '' } }, { reason: 'r', actor: 'bob' }]) {
      await expect(audit.revert(insert, options as object)).rejects.toThrow(/give a reason|an actor is/);
    }
    await expect(audit.revert(insert, { dryRun: true })).resolves.toMatchObject({ applied: false });
    expect(await changesAfter(db.pool, mark)).toEqual([]);
  });

  it('refuses to write through a role whose context is not trusted (the restore could not be recorded as one)', async () => {
    await freshThing(9);
    const insert = await changeIdOf('INSERT', '9');
    const intruder = `intruder_${role.name}`;
    await db.pool.query(`CREATE ROLE ${intruder} LOGIN PASSWORD 'pw'`);
    try {
      await grantRestoreReader(db.pool, intruder);
      await db.pool.query(
        `GRANT USAGE ON SCHEMA auditrum TO ${intruder}; GRANT SELECT, DELETE ON things TO ${intruder}`,
      );
      const url = new URL(db.url);
      url.username = intruder;
      url.password = 'pw';
      const pool = db.openPool({ connectionString: url.toString() });
      const other = createAuditrum({ pool, partitions: false });
      await expect(other.revert(insert, { reason: 'r' })).rejects.toThrow(
        `the context of database role ${intruder} is not trusted`,
      );
      await other.close();
      await pool.end();
      expect((await app.query('SELECT 1 FROM things WHERE id = 9')).rowCount).toBe(1);
    } finally {
      await db.pool.query(`DROP OWNED BY ${intruder}; DROP ROLE ${intruder}`);
    }
  });
});
