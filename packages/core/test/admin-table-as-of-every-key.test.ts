import { createAuditrum, withAuditContext } from '@auditrum/core';
import type { AdminHandler } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { KeysArgument } from '../src/admin/table-keys.js';
import { logKeysSql, TableKeys } from '../src/admin/table-keys.js';
import { allPages, expectEveryPageAsRebuilt, shaped, wholeTable } from './table-as-of-pages.js';

/**
 * A table as of a time whose log after it does not say which rows left, so that every key of the log is a candidate
 * (migration 30): a TRUNCATE after the time, a gap in tracking after it or around it. Such a page takes the admin's
 * summary of the log's keys and key changes (table-keys.ts), kept per mount over final ids and extended by the ids
 * written since; it must rest on it (a key missing from it is a row missing from the page), read the log when it is
 * stale, and every page must equal the whole-table rebuild, row for row, at every time. A time before tracking began,
 * with neither after it, takes only the live keys and the departures after the time: the rows from before tracking
 * that the log names (changed, deleted, moved to another key, inserted again) are listed exactly as rebuilt. Keys of
 * an earlier key type that today's cannot hold come last. As the application's non-superuser role, which owns its
 * tables.
 */

const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let admin: AdminHandler<null>;
const errors: unknown[] = [];
/** A time after each step of the log; the first before tracking began. */
const times: string[] = [];

const TABLES = [
  { name: 'public.items', order: 'row_key::int' },
  { name: 'public.pairs', order: `(row_key::jsonb->>0) COLLATE "C", (row_key::jsonb->>1)::int` },
];

async function now(): Promise<string> {
  const { rows } = await app.query<{ t: string }>(
    `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`,
  );
  return rows[0]?.t as string;
}

async function step(sql: string[]): Promise<void> {
  await withAuditContext({ actor: { id: 'u-1' }, source: 'http' }, async () => {
    for (const statement of sql) await app.query(statement);
  });
  times.push(await now());
}

/** Whether a page of `table` as of `at` takes every key of the log. */
async function readsLogKeys(table: string, at: string): Promise<boolean> {
  const { rows } = await app.query<{ reads: boolean }>(
    'SELECT auditrum.table_as_of_reads_log_keys($1::regclass, $2::timestamptz) AS reads',
    [table, at],
  );
  return rows[0]?.reads as boolean;
}

/** One page of `table` as of `at` from table_as_of_page itself, given `keys`: its row keys. */
async function pageKeys(table: string, at: string, keys: KeysArgument | null): Promise<string[]> {
  const argument = logKeysSql('"auditrum"', 3, keys);
  const { rows } = await app.query<{ row_key: string }>(
    `SELECT s.row_key FROM auditrum.table_as_of_page($1::regclass, $2::timestamptz, NULL, NULL, 1001, NULL, NULL,
       ${argument.sql}) s`,
    [table, at, ...argument.values],
  );
  return rows.map((row) => row.row_key);
}

async function wholeKeys(name: string, at: string): Promise<string[]> {
  const table = TABLES.find((t) => t.name === name) as (typeof TABLES)[number];
  return (await wholeTable(app, table, at)).map((row) => (row as string[])[0] as string);
}

beforeAll(async () => {
  app = role.openPool({ max: 3 });
  app.on('error', (error) => errors.push(error));
  // The log's readers' grants and the erasures (a summary is kept only for a role that can tell it stale).
  await grantLogReads(db, role);
  await db.pool.query(`GRANT SELECT ON auditrum.erasures TO ${pg.escapeIdentifier(role.name)}`);
  await app.query('CREATE TABLE items (id int PRIMARY KEY, v text)');
  await app.query('CREATE TABLE pairs (a text COLLATE "C", b int, v text, PRIMARY KEY (a, b))');
  // Rows from before tracking: nothing is logged of them until they change.
  await app.query(`INSERT INTO items SELECT g, 'old ' || g FROM generate_series(1, 12) g`);
  await app.query(`INSERT INTO pairs VALUES ('a', 1, 'a1'), ('a', 10, 'a10'), ('b', 2, 'b2')`);
  times.push(await now());
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  for (const table of ['items', 'pairs']) await auditrum.track(`public.${table}`);
  createAuditrum({ pool: app, partitions: false });
  // Rows from before tracking changed, deleted, moved to another key (and away again), a key deleted and inserted
  // again, a key moved onto a key that was deleted, new rows.
  await step([
    `UPDATE items SET v = 'two' WHERE id = 2`,
    'DELETE FROM items WHERE id IN (3, 4)',
    'UPDATE items SET id = 50 WHERE id = 5',
    `INSERT INTO items VALUES (4, 'four again'), (13, 'thirteen')`,
    `UPDATE pairs SET b = 11 WHERE a = 'a' AND b = 10`,
    `INSERT INTO pairs VALUES ('c', 3, 'c3')`,
  ]);
  await step([
    'UPDATE items SET id = 51 WHERE id = 50',
    'UPDATE items SET id = 3 WHERE id = 6',
    'DELETE FROM items WHERE id = 13',
    `DELETE FROM pairs WHERE a = 'b'`,
  ]);
  admin = createAdminRoutes({ pool: app, authorize: () => true, onError: (e) => errors.push(e) });
});

afterAll(async () => {
  await app?.end();
  expect(errors).toEqual([]);
});

describe('a table as of a time when the log after it does not say which rows left', () => {
  it('before tracking began, with no TRUNCATE or gap after, takes the live keys and the departures only', async () => {
    const before = times[0] as string;
    expect(await readsLogKeys('public.items', before)).toBe(false);
    expect(shaped(await allPages(admin, 'public.items', before, 2))).toEqual(
      await wholeTable(app, TABLES[0] as (typeof TABLES)[number], before),
    );
    // The rows then, by their keys: 1–12 (3 and 4 deleted since, 5 and 6 moved away since, 4 and 3 entered again).
    expect((await allPages(admin, 'public.items', before, 5)).map((row) => [row.rowKey, row.exists])).toEqual(
      ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12'].map((key) => [key, true]),
    );
    await expectEveryPageAsRebuilt(admin, app, TABLES, times, [1, 3]);
  });

  it('after a TRUNCATE, takes every key of the log from the summary, extended by the ids written since', async () => {
    const truncated = times.length;
    await step(['TRUNCATE items', `INSERT INTO items VALUES (2, 'two again'), (20, 'twenty')`, 'TRUNCATE pairs']);
    await step([`INSERT INTO items VALUES (21, 'twenty-one')`, 'UPDATE items SET id = 22 WHERE id = 20']);
    for (const at of times.slice(0, truncated)) expect(await readsLogKeys('public.items', at)).toBe(true);
    // (Before tracking began, and the TRUNCATE after: every key of the log too.)
    const of = vi.spyOn(TableKeys.prototype, 'of');
    try {
      await expectEveryPageAsRebuilt(admin, app, TABLES, times, [1, 3]);
      const summaries = await Promise.all(
        of.mock.results.map((result) => result.value as Promise<KeysArgument | null>),
      );
      expect(summaries.filter((keys) => keys !== null).length).toBeGreaterThan(0);
      // New keys after the summary was read: above its ids, read from the log by the page.
      await step([`INSERT INTO items VALUES (30, 'thirty')`, 'DELETE FROM items WHERE id = 21', 'TRUNCATE items']);
      await expectEveryPageAsRebuilt(admin, app, TABLES, times, [2]);
    } finally {
      of.mockRestore();
    }
  });

  it('rests on the summary, reads the log when it is stale, and keeps none past its bound', async () => {
    const summaries = new TableKeys(app, '"auditrum"');
    const at = times[1] as string;
    expect(await summaries.of('public.items', times.at(-1) as string)).toBeNull();
    const keys = (await summaries.of('public.items', at)) as KeysArgument;
    const whole = await wholeKeys('public.items', at);
    expect(whole).toContain('13');
    expect(await pageKeys('public.items', at, keys)).toEqual(whole);
    expect(await pageKeys('public.items', at, null)).toEqual(whole);
    const { rows } = await db.pool.query<{ key: string }>(
      `SELECT DISTINCT row_key AS key FROM auditrum.changes WHERE table_id =
         (SELECT id FROM auditrum.tracked_tables WHERE table_name = 'items') AND row_key IS NOT NULL ORDER BY 1`,
    );
    const literalKeys = keys.keysLiteral
      .slice(1, -1)
      .split(',')
      .map((key) => JSON.parse(key) as string);
    expect(literalKeys.sort()).toEqual(rows.map((row) => row.key));
    expect(keys.moves.map((move) => (JSON.parse(move) as { old_key: string }).old_key)).toEqual(['5', '50', '6', '20']);
    // Without the key 13 (deleted since, but the log after a TRUNCATE is not read for departures), it is missing.
    const without = { ...keys, keysLiteral: `{${literalKeys.filter((key) => key !== '13').join(',')}}` };
    expect(await pageKeys('public.items', at, without)).toEqual(whole.filter((key) => key !== '13'));
    expect(await pageKeys('public.items', at, { ...without, state: `${keys.state} ` })).toEqual(whole);
    expect(await new TableKeys(app, '"auditrum"', 3).of('public.items', at)).toBeNull();
    // After the first TRUNCATE and before the next: only the keys entered since the first are candidates (2 and 20).
    const truncated = times[3] as string;
    const since = (await summaries.of('public.items', truncated)) as KeysArgument;
    expect(await wholeKeys('public.items', truncated)).toEqual(['2', '20']);
    expect(await pageKeys('public.items', truncated, since)).toEqual(['2', '20']);
    const enteredKeys = since.enteredKeysLiteral.slice(1, -1).split(',');
    const enteredIds = since.enteredIdsLiteral.slice(1, -1).split(',');
    const enteredTimes = since.enteredTimesLiteral.slice(1, -1).split(',');
    const kept = enteredKeys.map((key, i) => [key, enteredIds[i], enteredTimes[i]]).filter(([key]) => key !== '"2"');
    const without2 = {
      ...since,
      enteredKeysLiteral: `{${kept.map(([key]) => key).join(',')}}`,
      enteredIdsLiteral: `{${kept.map(([, id]) => id).join(',')}}`,
      enteredTimesLiteral: `{${kept.map(([, , time]) => time).join(',')}}`,
    };
    // (20 stays: it left by a key change since, a candidate as any old key.)
    expect(await pageKeys('public.items', truncated, without2)).toEqual(['20']);
  });

  it('lists keys today’s key type cannot hold after the others, after a TRUNCATE too', async () => {
    await app.query('CREATE TABLE codes (id text PRIMARY KEY, v text)');
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.codes');
    await app.query(`INSERT INTO codes VALUES ('b', 'y'), ('a', 'x'), ('10', 'ten'), ('9', 'nine')`);
    const at = await now();
    await app.query(`DELETE FROM codes WHERE id IN ('a', 'b')`);
    await app.query('ALTER TABLE codes ALTER COLUMN id TYPE int USING id::int');
    await app.query(`TRUNCATE codes`);
    await app.query(`INSERT INTO codes VALUES (9, 'nine again')`);
    expect(await readsLogKeys('public.codes', at)).toBe(true);
    for (const limit of [1, 3]) {
      expect((await allPages(admin, 'public.codes', at, limit)).map((row) => [row.rowKey, row.values])).toEqual([
        ['9', { id: '9', v: 'nine' }],
        ['10', { id: '10', v: 'ten' }],
        ['a', { id: 'a', v: 'x' }],
        ['b', { id: 'b', v: 'y' }],
      ]);
    }
  });

  it('after a TRUNCATE, takes a row inserted by a transaction that began before it (its time is earlier)', async () => {
    await app.query('CREATE TABLE late (id int PRIMARY KEY)');
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.late');
    await app.query('INSERT INTO late VALUES (1)');
    const early = await app.connect();
    try {
      await early.query('BEGIN');
      await early.query('SELECT 1');
      await app.query('TRUNCATE late');
      await early.query('INSERT INTO late VALUES (2)');
      await early.query('COMMIT');
    } finally {
      early.release();
    }
    const at = await now();
    await app.query('TRUNCATE late');
    const { rows } = await app.query<{ truncated_later: boolean }>(
      `SELECT max(changed_at) FILTER (WHERE operation = 'TRUNCATE') > max(changed_at) FILTER (WHERE row_key = '2')
         AS truncated_later FROM auditrum.changes WHERE table_id = (SELECT id FROM auditrum.tracked_tables WHERE table_name = 'late')`,
    );
    expect(rows[0]?.truncated_later).toBe(true);
    const late = { name: 'public.late', order: 'row_key::int' };
    expect((await wholeTable(app, late, at)).map((row) => (row as string[])[0])).toEqual(['2']);
    for (const limit of [1, 3]) {
      expect((await allPages(admin, 'public.late', at, limit)).map((row) => row.rowKey)).toEqual(['2']);
    }
  });

  it('after a gap in tracking, takes every key of the log, rows gone unseen of unknown existence', async () => {
    const auditrum = createAuditrum({ pool: db.pool, partitions: false });
    await step([`INSERT INTO items VALUES (40, 'forty'), (41, 'forty-one')`]);
    await auditrum.untrack('public.items');
    await step(['DELETE FROM items WHERE id = 40']);
    await auditrum.track('public.items');
    await step([`UPDATE items SET v = 'changed' WHERE id = 41`]);
    const inGap = times.at(-2) as string;
    expect(await readsLogKeys('public.items', inGap)).toBe(true);
    const rows = await allPages(admin, 'public.items', inGap, 2);
    expect(rows.map((row) => [row.rowKey, row.exists])).toEqual([
      ['40', null],
      ['41', true],
    ]);
    await expectEveryPageAsRebuilt(admin, app, TABLES.slice(0, 1), times.slice(-4), [1, 3]);
  });
});
