import { createAuditrum, withAuditContext } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// A single-row UPDATE is compared in PL/pgSQL (its rows read into the capture function's variables old_row and
// new_row), an UPDATE of several rows by one statement over the transition tables: both must record exactly the
// same changes, whatever the column types, masks, size limit, `when` condition and column names.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;

// Columns named like the capture function's own variables, and types compared by their text or rendered.
const COLUMNS = `id int PRIMARY KEY, n numeric, f float8, iv interval, jb jsonb, arr text[], raw bytea, m mood, pr pair,
  secret text, big text, hidden text, old_row text, new_row int, many bool, old_diff text, ctx text, actor text,
  "Weird Col" text`;
const FIRST = `(1, 1.0, 1.5, '1 day', '{"a": 1}', '{x,y}', '\\x00', 'ok', '(1,z)', 's1', 'small', NULL, 'o', 1, true, 'd', 'c',
  'a', 'w')`;
// One statement per row, each a different kind of change; row 6 changes nothing and row 7 is left out by the
// `when` condition, so neither is recorded.
const CHANGES = [
  'n = 1.00',
  "f = -0.0, iv = '24 hours'",
  `jb = '{"a": 2}', arr = '{x,NULL}'`,
  "secret = 's2', raw = '\\x01', m = 'sad', pr = '(2,z)'",
  "big = repeat('x', 100)",
  'n = n',
  "hidden = 'skip', old_row = 'changed'",
  `old_row = 'p', new_row = 2, many = NULL, old_diff = 'e', ctx = NULL, actor = 'b', "Weird Col" = 'v'`,
];
const NAMES =
  'n, f, iv, jb, arr, raw, m, pr, secret, big, hidden, old_row, new_row, many, old_diff, ctx, actor, "Weird Col"';

interface Change {
  row_key: string;
  old_values: Record<string, unknown>;
  new_values: Record<string, unknown>;
  actor_id: string | null;
  request_id: string | null;
}

async function updates(table: string): Promise<Change[]> {
  const { rows } = await db.pool.query<Change>(
    `SELECT row_key, old_values, new_values, actor_id, request_id FROM auditrum.change_log
     WHERE table_name = $1 AND operation = 'UPDATE' ORDER BY row_key::int`,
    [table],
  );
  return rows;
}

async function captureFunction(table: string): Promise<string> {
  const { rows } = await db.pool.query<{ def: string }>(
    `SELECT pg_get_functiondef(format('auditrum.capture_%s', id)::regproc) AS def
     FROM auditrum.tracked_tables WHERE table_name = $1`,
    [table],
  );
  return rows[0]?.def ?? '';
}

beforeAll(async () => {
  app = role.openPool({ max: 1 });
  createAuditrum({ pool: app, partitions: false });
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  await app.query(`CREATE TYPE mood AS ENUM ('ok', 'sad')`);
  await app.query('CREATE TYPE pair AS (a int, b text)');
  for (const table of ['one_at_a_time', 'all_at_once']) {
    await app.query(`CREATE TABLE ${table} (${COLUMNS})`);
    await auditrum.track(`public.${table}`, {
      mask: ['secret'],
      when: "new.hidden IS DISTINCT FROM 'skip'",
      maxValueBytes: 64,
    });
    await app.query(`INSERT INTO ${table} SELECT g, (r).n, (r).f, (r).iv, (r).jb, (r).arr, (r).raw, (r).m, (r).pr, (r).secret,
      (r).big, (r).hidden, (r).old_row, (r).new_row, (r).many, (r).old_diff, (r).ctx, (r).actor, (r)."Weird Col"
      FROM generate_series(1, ${CHANGES.length}) g, (SELECT ROW${FIRST}::${table} AS r) first`);
  }
});
afterAll(() => app.end());

describe('a single-row UPDATE', () => {
  it('is compared in PL/pgSQL variables, an UPDATE of several rows by a statement', async () => {
    const def = await captureFunction('one_at_a_time');
    expect(def).toContain('FOR old_row IN SELECT * FROM old_rows LOOP');
    expect(def).toContain('USING ("auditrum ordinal")');
  });

  it('records exactly what an UPDATE of several rows records', async () => {
    await withAuditContext({ actor: { id: 'single' }, requestId: 'one-by-one' }, async () => {
      for (const [i, change] of CHANGES.entries()) {
        await app.query(`UPDATE one_at_a_time SET ${change} WHERE id = $1`, [i + 1]);
      }
    });
    await withAuditContext({ actor: { id: 'multi' }, requestId: 'all-at-once' }, () =>
      app.query(`UPDATE all_at_once a SET (${NAMES}) = (SELECT ${NAMES} FROM one_at_a_time o WHERE o.id = a.id)`),
    );
    const single = await updates('one_at_a_time');
    const multi = await updates('all_at_once');
    expect(single.map((c) => c.row_key)).toEqual(['1', '2', '3', '4', '5', '8']);
    expect(single.map(({ row_key, old_values, new_values }) => ({ row_key, old_values, new_values }))).toEqual(
      multi.map(({ row_key, old_values, new_values }) => ({ row_key, old_values, new_values })),
    );
    expect(new Set(single.map((c) => `${c.actor_id} ${c.request_id}`))).toEqual(new Set(['single one-by-one']));
    expect(new Set(multi.map((c) => `${c.actor_id} ${c.request_id}`))).toEqual(new Set(['multi all-at-once']));
    const [numeric, float, json, masked, oversized, names] = single;
    expect([numeric?.old_values, numeric?.new_values]).toEqual([{ n: 1.0 }, { n: 1.0 }]);
    expect(float?.new_values).toEqual({ f: 0, iv: '24:00:00' });
    expect(json?.new_values).toEqual({ jb: { a: 2 }, arr: ['x', null] });
    expect(masked?.new_values).toMatchObject({
      raw: '\\x01',
      m: 'sad',
      pr: '(2,z)',
      secret: expect.stringMatching(/^hmac:/),
    });
    expect(masked?.old_values.secret).not.toEqual(masked?.new_values.secret);
    expect(oversized?.old_values).toEqual({ big: 'small' });
    expect(oversized?.new_values).toEqual({
      '': { oversized: ['big'] },
      big: { $auditrum: 'oversized', bytes: 100, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
    expect(names?.old_values).toEqual({
      old_row: 'o',
      new_row: 1,
      many: true,
      old_diff: 'd',
      ctx: 'c',
      actor: 'a',
      'Weird Col': 'w',
    });
    expect(names?.new_values).toEqual({
      old_row: 'p',
      new_row: 2,
      many: null,
      old_diff: 'e',
      ctx: null,
      actor: 'b',
      'Weird Col': 'v',
    });
  });

  it('is recorded after a column changed type in the same session (the function is regenerated)', async () => {
    await app.query('UPDATE one_at_a_time SET new_row = 3 WHERE id = 1');
    const before = await captureFunction('one_at_a_time');
    await app.query('ALTER TABLE one_at_a_time ALTER COLUMN new_row TYPE bigint');
    // The same SQL but for the type, which the function's text names (as a hash) so that ALTER TABLE replaces it.
    expect(await captureFunction('one_at_a_time')).not.toEqual(before);
    await app.query('UPDATE one_at_a_time SET new_row = 4 WHERE id = 1');
    expect((await updates('one_at_a_time')).filter((c) => c.row_key === '1').slice(-2)).toMatchObject([
      { old_values: { new_row: 1 }, new_values: { new_row: 3 } },
      { old_values: { new_row: 3 }, new_values: { new_row: 4 } },
    ]);
  });

  it('is recorded after a column changed type without event triggers to regenerate the function', async () => {
    // PL/pgSQL keeps the old type in this session's plans: the statement over the transition tables takes over.
    const { rows } = await db.pool.query<{ evtname: string }>('SELECT evtname FROM pg_event_trigger');
    const switchAll = (to: string) =>
      Promise.all(rows.map((r) => db.pool.query(`ALTER EVENT TRIGGER ${pg.escapeIdentifier(r.evtname)} ${to}`)));
    await app.query('UPDATE all_at_once SET new_row = 5 WHERE id = 2');
    await switchAll('DISABLE');
    try {
      await app.query('ALTER TABLE all_at_once ALTER COLUMN new_row TYPE numeric');
      await app.query('UPDATE all_at_once SET new_row = 6 WHERE id = 2');
    } finally {
      await switchAll('ENABLE');
    }
    expect((await updates('all_at_once')).filter((c) => c.row_key === '2').slice(-2)).toMatchObject([
      { old_values: { new_row: 1 }, new_values: { new_row: 5 } },
      { old_values: { new_row: 5 }, new_values: { new_row: 6 } },
    ]);
  });

  it('that matches no row records nothing', async () => {
    const before = (await updates('one_at_a_time')).length;
    await app.query(`UPDATE one_at_a_time SET n = 9 WHERE id = 0`);
    expect(await updates('one_at_a_time')).toHaveLength(before);
  });
});
