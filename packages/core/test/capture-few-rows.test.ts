import { createAuditrum, withAuditContext } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// An UPDATE of 2 to 16 rows is compared pair by pair in PL/pgSQL, as one of one row; one of 17 rows or more goes
// through one statement over the transition tables. All three must record exactly the same changes, under every
// rule: masks, excluded columns, the size limit (a few rows' UPDATE with a value over it goes to the statement),
// a stored generated column, key changes, and a `when` condition (whose table keeps the statement).
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;

const COLUMNS = `id int PRIMARY KEY, n numeric, f float8, iv interval, jb jsonb, arr text[], m mood, secret text, big text,
  hidden text, old_row text, new_row int, "Weird Col" text, twice numeric GENERATED ALWAYS AS (n * 2) STORED`;
const NAMES = 'n, f, iv, jb, arr, m, secret, big, hidden, old_row, new_row, "Weird Col"';
const FIRST = `1.0, 1.5, '1 day', '{"a": 1}', '{x,y}', 'ok', 's1', 'small', NULL, 'o', 1, 'w'`;
// One change per row; row 6 changes nothing, row 7 only the excluded column (so the `when` table leaves it out).
const CHANGES = [
  'n = 1.00',
  "f = -0.0, iv = '24 hours'",
  `jb = '{"a": 2}', arr = '{x,NULL}'`,
  "secret = 's2', m = 'sad'",
  "big = repeat('x', 100)",
  'n = n',
  "hidden = 'skip'",
  `old_row = 'p', new_row = 2, "Weird Col" = 'v'`,
  'n = 5, secret = NULL',
  "big = 'medium', iv = NULL",
];
// Rows 11–18 change in no statement: they make the statement of every row one of 18 rows.
const ROWS = 18;
// The few rows' statements: 2 and 3 rows, one of them (rows 5–6) with a value over the limit.
const GROUPS = [
  [1, 2],
  [3, 4],
  [5, 6],
  [7, 8, 9],
  [10, 1],
];

const RULES = {
  rules: { mask: ['secret'], exclude: ['hidden'], maxValueBytes: 64 },
  when: { mask: ['secret'], when: "new.hidden IS DISTINCT FROM 'skip'", maxValueBytes: 64 },
} as const;
type RuleSet = keyof typeof RULES;
const WAYS = ['one', 'few', 'all'] as const;

interface Change {
  row_key: string;
  old_values: Record<string, unknown>;
  new_values: Record<string, unknown>;
  actor_id: string | null;
}

async function updates(table: string): Promise<Change[]> {
  const { rows } = await db.pool.query<Change>(
    `SELECT row_key, old_values, new_values, actor_id FROM auditrum.change_log
     WHERE table_name = $1 AND operation = 'UPDATE' ORDER BY row_key::int, id`,
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

/** Copies `ids`' values from the one-at-a-time table, in one statement. */
function copyRows(table: string, from: string, ids: readonly number[]): Promise<pg.QueryResult> {
  return app.query(
    `UPDATE ${table} t SET (${NAMES}) = (SELECT ${NAMES} FROM ${from} o WHERE o.id = t.id) WHERE t.id = ANY ($1)`,
    [ids],
  );
}

beforeAll(async () => {
  app = role.openPool({ max: 1 });
  createAuditrum({ pool: app, partitions: false });
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  await app.query(`CREATE TYPE mood AS ENUM ('ok', 'sad')`);
  for (const [rules, options] of Object.entries(RULES)) {
    for (const way of WAYS) {
      const table = `${rules}_${way}`;
      await app.query(`CREATE TABLE ${table} (${COLUMNS})`);
      await auditrum.track(`public.${table}`, options);
      await app.query(`INSERT INTO ${table} (id, ${NAMES}) SELECT g, ${FIRST} FROM generate_series(1, ${ROWS}) g`);
    }
  }
});
afterAll(() => app.end());

describe('an UPDATE of a few rows', () => {
  it('is compared pair by pair unless the table has a when condition', async () => {
    const def = await captureFunction('rules_few');
    expect(def).toContain('EXIT WHEN rows_counted > 16;');
    expect(def).toContain('FETCH new_rows_read INTO new_row;');
    expect(await captureFunction('when_few')).not.toContain('EXIT WHEN rows_counted > 16;');
  });

  it.each(Object.keys(RULES) as RuleSet[])(
    'records exactly what one row per statement and a statement of every row record (%s)',
    async (rules) => {
      const [one, few, all] = WAYS.map((way) => `${rules}_${way}`) as [string, string, string];
      await withAuditContext({ actor: { id: 'one' } }, async () => {
        for (const [i, change] of CHANGES.entries()) {
          await app.query(`UPDATE ${one} SET ${change} WHERE id = $1`, [i + 1]);
        }
      });
      await withAuditContext({ actor: { id: 'few' } }, async () => {
        for (const ids of GROUPS) await copyRows(few, one, ids);
      });
      await withAuditContext({ actor: { id: 'all' } }, () =>
        copyRows(
          all,
          one,
          Array.from({ length: ROWS }, (_, i) => i + 1),
        ),
      );
      // Key changes: 17 rows one at a time, 3 at a time, all 17 at once.
      const keys = Array.from({ length: 17 }, (_, i) => i + 1);
      for (const id of keys) await app.query(`UPDATE ${one} SET id = id + 100 WHERE id = $1`, [id]);
      for (let i = 0; i < keys.length; i += 3) {
        await app.query(`UPDATE ${few} SET id = id + 100 WHERE id = ANY ($1)`, [keys.slice(i, i + 3)]);
      }
      await app.query(`UPDATE ${all} SET id = id + 100 WHERE id <= 17`);

      const values = (changes: Change[]) =>
        changes.map(({ row_key, old_values, new_values }) => ({ row_key, old_values, new_values }));
      const [byOne, byFew, byAll] = await Promise.all([updates(one), updates(few), updates(all)]);
      expect(values(byFew)).toEqual(values(byOne));
      expect(values(byAll)).toEqual(values(byOne));
      expect(byFew.filter((c) => Number(c.row_key) <= 10).map((c) => c.actor_id)).toEqual(
        byFew.filter((c) => Number(c.row_key) <= 10).map(() => 'few'),
      );

      const byKey = new Map(values(byOne).map((c) => [c.row_key, c]));
      expect(byKey.has('6')).toBe(false);
      expect(byKey.get('1')).toEqual({
        row_key: '1',
        old_values: { n: 1.0, twice: 2.0 },
        new_values: { n: 1.0, twice: 2.0 },
      });
      expect(byKey.get('5')?.new_values).toEqual({
        '': { oversized: ['big'] },
        big: { $auditrum: 'oversized', bytes: 100, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
      });
      expect(byKey.get('4')?.new_values).toEqual({ m: 'sad', secret: expect.stringMatching(/^hmac:/) });
      expect(byKey.get('101')).toEqual({ row_key: '101', old_values: { id: 1 }, new_values: { id: 101 } });
      if (rules === 'rules') {
        // The excluded column's change records nothing; the `when` table leaves the row out whatever changed.
        expect(byKey.has('7')).toBe(false);
        expect(byKey.get('8')?.new_values).toEqual({ old_row: 'p', new_row: 2, 'Weird Col': 'v' });
      } else {
        expect(byKey.has('7')).toBe(false);
        expect(byKey.has('107')).toBe(false);
        expect(byKey.get('8')?.new_values).toEqual({ old_row: 'p', new_row: 2, 'Weird Col': 'v' });
      }
    },
  );

  it('is recorded by the statement after a column changed type without event triggers to regenerate the function', async () => {
    const { rows } = await db.pool.query<{ evtname: string }>('SELECT evtname FROM pg_event_trigger');
    const switchAll = (to: string) =>
      Promise.all(rows.map((r) => db.pool.query(`ALTER EVENT TRIGGER ${pg.escapeIdentifier(r.evtname)} ${to}`)));
    await app.query('UPDATE rules_few SET new_row = 7 WHERE id IN (101, 102)');
    await switchAll('DISABLE');
    try {
      await app.query('ALTER TABLE rules_few ALTER COLUMN new_row TYPE numeric');
      await app.query('UPDATE rules_few SET new_row = 8 WHERE id IN (101, 102)');
    } finally {
      await switchAll('ENABLE');
    }
    const changes = (await updates('rules_few')).filter((c) => 'new_row' in c.new_values && Number(c.row_key) > 100);
    expect(changes.map(({ row_key, old_values, new_values }) => ({ row_key, old_values, new_values }))).toEqual([
      { row_key: '101', old_values: { new_row: 1 }, new_values: { new_row: 7 } },
      { row_key: '101', old_values: { new_row: 7 }, new_values: { new_row: 8 } },
      { row_key: '102', old_values: { new_row: 1 }, new_values: { new_row: 7 } },
      { row_key: '102', old_values: { new_row: 7 }, new_values: { new_row: 8 } },
    ]);
  });
});
