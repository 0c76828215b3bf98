import { createAuditrum } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useHistoryReader } from './blame-reader.js';

// A whole table as of a time rebuilt backwards from the live table (migration 17) gives, row for row, what history's
// general query gives, wherever it applies; where it does not, it declines and the general query answers. Written by
// a non-superuser role that owns its tables, read by a role that may only read the audit schema and those tables.
const db = useTestDatabase();
const role = useAppRole(db);
const reader = useHistoryReader(db);
let app: pg.Pool;
let audit: ReturnType<typeof createAuditrum>;

beforeAll(async () => {
  app = role.openPool({ max: 3 });
  audit = createAuditrum({ pool: db.pool, partitions: false });
});

afterAll(async () => {
  await audit.close();
});

interface StateRow {
  row_key: string;
  exists: boolean | null;
  values: Record<string, unknown>;
  unknown: unknown[];
  last_change_id: string | null;
  last_changed_at: Date | null;
  rebuilt_from: string;
}

async function now(): Promise<string> {
  const { rows } = await db.pool.query<{ at: string }>(`SELECT to_json(clock_timestamp()) #>> '{}' AS at`);
  return rows[0]?.at as string;
}

// Settings under which even a table of a few rows is scanned by parallel workers.
const PARALLEL = ['parallel_setup_cost = 0', 'parallel_tuple_cost = 0', 'min_parallel_table_scan_size = 0'];

/**
 * The table's rows at `at` by both queries, read in one snapshot under `settings` (SET LOCAL); `backward` null when
 * that query declines, `plan` its plan.
 */
async function bothWays(
  table: string,
  at: string,
  settings: string[] = [],
): Promise<{ backward: StateRow[] | null; general: StateRow[]; plan: string }> {
  const client = await reader.pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    for (const setting of settings) await client.query(`SET LOCAL ${setting}`);
    const { rows } = await client.query<{ backward: string | null; general: string }>(
      `SELECT auditrum._history_table_backward_sql($1::regclass, $2::timestamptz) AS backward,
        auditrum._history_table_general_sql($1::regclass, $2::timestamptz) AS general`,
      [table, at],
    );
    const read = async (sql: string) =>
      (
        await client.query<StateRow>(
          `SELECT s.row_key, s."exists", s."values"::jsonb AS "values", s.unknown, s.last_change_id,
            s.last_changed_at, s.rebuilt_from FROM (${sql}) s ORDER BY s.row_key COLLATE "C"`,
        )
      ).rows;
    const backward = rows[0]?.backward ? await read(rows[0].backward) : null;
    const plan = rows[0]?.backward
      ? (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (COSTS OFF) ${rows[0].backward}`)).rows
          .map((row) => row['QUERY PLAN'])
          .join('\n')
      : '';
    const general = await read(rows[0]?.general as string);
    await client.query('COMMIT');
    return { backward, general, plan };
  } finally {
    client.release();
  }
}

/** The times of every change of `table` after `after` (each a time the table's state changed), and `extra`. */
async function changeTimes(table: string, after: string | null, extra: string[]): Promise<string[]> {
  const { rows } = await db.pool.query<{ at: string }>(
    `SELECT DISTINCT to_json(c.changed_at) #>> '{}' AS at FROM auditrum.changes c
     JOIN auditrum.tracked_tables t ON t.id = c.table_id
     WHERE t.relid = $1::regclass AND ($2::timestamptz IS NULL OR c.changed_at > $2::timestamptz)`,
    [table, after],
  );
  return [...rows.map((r) => r.at), ...extra];
}

async function expectSameRows(table: string, at: string): Promise<StateRow[]> {
  const { backward, general } = await bothWays(table, at);
  expect(backward, `backward query at ${at}`).not.toBeNull();
  expect(backward, `rows at ${at}`).toEqual(general);
  return general;
}

async function expectDeclined(table: string, at: string): Promise<void> {
  const { backward, general } = await bothWays(table, at);
  expect(backward, `backward query at ${at}`).toBeNull();
  // tableAsOf then streams the general query's rows (their values under today's columns: the query's own can hold a
  // dropped column's value, which the reader leaves out).
  const asOf = await audit.tableAsOf({ table, at });
  const streamed = [];
  for await (const row of asOf) streamed.push([row.rowKey, row.values, row.unknown, row.lastChangeId, row.rebuiltFrom]);
  const today = (values: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(values).filter(([column]) => asOf.columns.includes(column)));
  expect(streamed.sort(), table).toEqual(
    general.map((row) => [row.row_key, today(row.values), row.unknown, row.last_change_id, row.rebuilt_from]).sort(),
  );
}

describe('a table as of a time, rebuilt backwards from the live table', () => {
  it('gives the general query’s rows at every change of a log of inserts, updates, deletes, re-inserts, key changes and rows from before tracking', async () => {
    await app.query(`CREATE TABLE orders (
      region text, id int, name text, qty int, price numeric(10, 2), placed timestamptz, tags text[], note text,
      PRIMARY KEY (region, id))`);
    await app.query(`INSERT INTO orders SELECT 'eu', i, 'e' || i, i, i * 1.5, timestamptz '2026-01-01' + i * interval '1 hour',
      ARRAY['t' || i], NULL FROM generate_series(1, 20) i`);
    await audit.track('orders');
    await db.pool.query(`GRANT SELECT ON orders TO ${reader.name}`);
    const start = await now();
    await app.query(`INSERT INTO orders SELECT 'us', i, 'u' || i, i, i * 2.25, timestamptz '2026-02-01' + i * interval '1 day',
      '{}', 'n' || i FROM generate_series(1, 20) i`);
    await app.query(`UPDATE orders SET qty = qty * 10 WHERE region = 'eu' AND id % 3 = 0`);
    await app.query(`UPDATE orders SET name = 'renamed-' || id, note = NULL WHERE region = 'us' AND id % 4 = 0`);
    // Key changes: of a row from before tracking and of a row inserted while tracked.
    await app.query(`UPDATE orders SET id = id + 100 WHERE (region, id) IN (('eu', 1), ('us', 2))`);
    const afterMoves = await now();
    await app.query(`DELETE FROM orders WHERE (region, id) IN (('eu', 3), ('eu', 4), ('us', 5))`);
    await app.query(
      `INSERT INTO orders VALUES ('eu', 3, 'back', 33, 3.30, NULL, '{a,b}', 'again'), ('us', 5, 'back', 55, 5.50, NULL, NULL, NULL)`,
    );
    // The old key of a moved row taken again by a new row.
    await app.query(`INSERT INTO orders VALUES ('eu', 1, 'new one', 1, 1.00, NULL, NULL, NULL)`);
    for (let round = 1; round <= 4; round++) {
      await app.query(
        `UPDATE orders SET qty = qty + $1, tags = tags || $2::text WHERE (region, id) IN (('us', 6), ('eu', 7))`,
        [round, `r${round}`],
      );
      await app.query(`UPDATE orders SET price = price + 1 WHERE (region, id) = ('us', 6)`);
    }
    await app.query(`DELETE FROM orders WHERE (region, id) IN (('us', 6), ('eu', 8))`);
    await app.query(`UPDATE orders SET note = 'last words' WHERE (region, id) = ('eu', 9)`);
    await app.query(`DELETE FROM orders WHERE (region, id) = ('eu', 9)`);
    await app.query(`INSERT INTO orders VALUES ('us', 30, 'brief', 1, 1.00, now(), NULL, NULL)`);
    await app.query(`UPDATE orders SET name = 'briefer' WHERE (region, id) = ('us', 30)`);
    await app.query(`DELETE FROM orders WHERE (region, id) = ('us', 30)`);
    await app.query(`UPDATE orders SET qty = qty + 1`);
    await app.query(`UPDATE orders SET placed = placed + interval '1 minute', note = 'final' WHERE id % 2 = 0`);

    // Before tracking began, and while a key change lies ahead: the general query answers.
    await expectDeclined('orders', '2020-01-01T00:00:00Z');
    await expectDeclined('orders', start);
    const times = await changeTimes('orders', afterMoves, [afterMoves, await now()]);
    expect(times.length).toBeGreaterThan(15);
    const seen = new Set<string>();
    for (const at of times) {
      for (const row of await expectSameRows('orders', at)) seen.add(`${row.rebuilt_from}:${row.exists}`);
    }
    // Every way a row is rebuilt was compared.
    expect([...seen].sort()).toEqual(['backward:true', 'forward:true', 'live:true']);
    // One exact state: the row deleted after the time comes from its DELETE's image, set back by the UPDATE before it.
    const atNine = (await bothWays('orders', afterMoves)).backward?.find((row) => row.row_key === '["eu", 9]');
    expect(atNine).toMatchObject({ exists: true, rebuilt_from: 'backward', unknown: [] });
    expect(atNine?.values).toMatchObject({ region: 'eu', id: 9, name: 'e9', qty: 90, note: null, tags: ['t9'] });
  });

  it('hands a key with oversized values, or whose change ids and times disagree, to the one-row query', async () => {
    await app.query('CREATE TABLE notes (id int PRIMARY KEY, body text, n int)');
    await audit.track('notes', { maxValueBytes: 64 });
    await db.pool.query(`GRANT SELECT ON notes TO ${reader.name}`);
    await app.query(`INSERT INTO notes SELECT i, 'short ' || i, i FROM generate_series(1, 6) i`);
    await app.query(`UPDATE notes SET body = repeat('long ', 40) WHERE id = 2`);
    const before = await now();
    await app.query(`UPDATE notes SET body = repeat('longer ', 40), n = 0 WHERE id IN (2, 3)`);
    await app.query(`UPDATE notes SET n = 7 WHERE id = 4`);

    // A statement that waited for a row lock: its change has a higher id than a change of the same row whose
    // statement began after it.
    const holder = await app.connect();
    const waiter = await app.connect();
    let between: string;
    try {
      await holder.query('BEGIN');
      await holder.query('UPDATE notes SET n = 100 WHERE id = 5');
      const { rows: pid } = await waiter.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const waiting = waiter.query('UPDATE notes SET n = n + 1000 WHERE id = 5');
      // Wait until the waiter's statement has begun and waits for the lock.
      for (let polls = 0; ; polls++) {
        const { rows } = await db.pool.query(
          `SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`,
          [pid[0]?.pid],
        );
        if (rows.length > 0) break;
        if (polls === 10_000) throw new Error('the second UPDATE never waited for the row lock');
      }
      between = await now();
      await holder.query('UPDATE notes SET n = 200 WHERE id = 5');
      await holder.query('COMMIT');
      await waiting;
    } finally {
      holder.release();
      waiter.release();
    }
    // Times in microseconds, as the log keeps them: the two statements may begin within the same millisecond.
    const { rows: five } = await db.pool.query<{ id: string; micros: string }>(
      `SELECT c.id, (extract(epoch FROM c.changed_at) * 1000000)::bigint::text AS micros
       FROM auditrum.changes c JOIN auditrum.tracked_tables t ON t.id = c.table_id
       WHERE t.table_name = 'notes' AND c.row_key = '5' AND c.operation = 'UPDATE' ORDER BY c.id`,
    );
    // The waiter's change (last) is older by its time than the holder's second one, which comes before it by id.
    expect(five).toHaveLength(3);
    expect(BigInt(five[2]?.micros as string) < BigInt(five[1]?.micros as string)).toBe(true);

    for (const at of [before, between, ...(await changeTimes('notes', null, [await now()]))]) {
      await expectSameRows('notes', at);
    }
    const rows = await expectSameRows('notes', before);
    expect(rows.find((row) => row.row_key === '2')?.unknown).toEqual([{ column: 'body', reason: 'oversized' }]);

    // With parallel workers scanning the live table (as they do for a big one), the keys handed over are rebuilt by
    // the reading process (the one-row query is parallel restricted), and the rows are the same.
    for (const at of [before, between]) {
      const { backward, general, plan } = await bothWays('notes', at, PARALLEL);
      expect(plan).toMatch(/Gather[\s\S]*Parallel Seq Scan on notes/);
      expect(backward).toEqual(general);
    }
  });

  it('spells a timestamptz as the reader’s session does, the same instant the writer’s session recorded', async () => {
    await app.query('CREATE TABLE visits (id int PRIMARY KEY, at timestamptz, note text)');
    await audit.track('visits');
    await db.pool.query(`GRANT SELECT ON visits TO ${reader.name}`);
    const writer = await app.connect();
    try {
      await writer.query(`SET TimeZone = 'Asia/Kolkata'`);
      await writer.query(
        `INSERT INTO visits VALUES (1, '2026-03-01T10:00:00Z', 'a'), (2, '2026-03-02T10:00:00Z', 'b')`,
      );
    } finally {
      await writer.query('RESET TimeZone');
      writer.release();
    }
    const at = await now();
    await app.query(`UPDATE visits SET note = 'later' WHERE id = 2`);
    const { backward, general } = await bothWays('visits', at);
    // The general query gives the rows rebuilt forwards as the log recorded them (+05:30), the backward one as the
    // reader's session spells the live value (the test database's zone); every other field is the same.
    const { rows: zone } = await reader.pool.query<{ offset: string }>(
      `SELECT to_json(timestamptz '2026-03-01T10:00:00Z') #>> '{}' AS offset`,
    );
    expect(general.map((row) => row.values.at)).toEqual(['2026-03-01T15:30:00+05:30', '2026-03-02T15:30:00+05:30']);
    expect(backward?.map((row) => row.values.at)).toEqual([zone[0]?.offset, expect.any(String)]);
    expect(backward?.map((row) => Date.parse(row.values.at as string))).toEqual(
      general.map((row) => Date.parse(row.values.at as string)),
    );
    const withoutTime = (rows: StateRow[]) => rows.map((row) => ({ ...row, values: { ...row.values, at: null } }));
    expect(withoutTime(backward ?? [])).toEqual(withoutTime(general));
  });

  it('declines, and the general query answers, for masked, excluded, renamed, added, dropped and retyped columns, a WHEN condition, a TRUNCATE, an untracked period and a json column', async () => {
    const cases: { name: string; track?: Record<string, unknown>; columns?: string; after: string[] }[] = [
      { name: 'masked', track: { mask: ['b'] }, after: [] },
      { name: 'excluded', track: { exclude: ['b'] }, after: [] },
      { name: 'conditional', track: { when: 'NEW.a > 0' }, after: [] },
      { name: 'renamed', after: ['ALTER TABLE renamed RENAME COLUMN b TO c'] },
      { name: 'added', after: ['ALTER TABLE added ADD COLUMN c int'] },
      { name: 'dropped', after: ['ALTER TABLE dropped DROP COLUMN b'] },
      { name: 'retyped', after: ['ALTER TABLE retyped ALTER COLUMN a TYPE bigint'] },
      { name: 'truncated', after: ['TRUNCATE truncated', 'INSERT INTO truncated VALUES (9, 9, 9)'] },
      { name: 'withjson', columns: ', j jsonb', after: [] },
    ];
    for (const c of cases) {
      await app.query(`CREATE TABLE ${c.name} (id int PRIMARY KEY, a int, b int${c.columns ?? ''})`);
      await audit.track(c.name, c.track ?? {});
      await db.pool.query(`GRANT SELECT ON ${c.name} TO ${reader.name}`);
      await app.query(`INSERT INTO ${c.name} (id, a, b) SELECT i, i, i FROM generate_series(1, 5) i`);
      await app.query(`UPDATE ${c.name} SET a = a + 10 WHERE id < 3`);
      const at = await now();
      for (const statement of c.after) await app.query(statement);
      await app.query(`UPDATE ${c.name} SET a = a + 100 WHERE id = 1`);
      await expectDeclined(c.name, at);
    }
    // Not tracked for a while after the time.
    await app.query('CREATE TABLE paused (id int PRIMARY KEY, a int)');
    await audit.track('paused');
    await db.pool.query(`GRANT SELECT ON paused TO ${reader.name}`);
    await app.query('INSERT INTO paused SELECT i, i FROM generate_series(1, 5) i');
    const at = await now();
    await audit.untrack('paused');
    await app.query('UPDATE paused SET a = 0');
    await audit.track('paused');
    await expectDeclined('paused', at);
  });

  it('refuses a missing or infinite time and a table that is not tracked, clearly', async () => {
    await app.query('CREATE TABLE loose (id int PRIMARY KEY)');
    await db.pool.query(`GRANT SELECT ON loose TO ${reader.name}`);
    const ask = (table: string, at: string | null) =>
      reader.pool.query('SELECT auditrum._history_table_backward_sql($1::regclass, $2::timestamptz)', [table, at]);
    await expect(ask('loose', '2026-01-01T00:00:00Z')).rejects.toThrow(/table public.loose is not tracked/);
    await audit.track('loose');
    await expect(ask('loose', null)).rejects.toThrow(/give a finite time/);
    await expect(ask('loose', 'infinity')).rejects.toThrow(/give a finite time/);
    await expect(ask('no_such_table', '2026-01-01T00:00:00Z')).rejects.toThrow(/does not exist/);
  });
});
