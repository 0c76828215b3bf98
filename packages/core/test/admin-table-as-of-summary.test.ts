import { createAuditrum, withAuditContext } from '@auditrum/core';
import type { AdminHandler } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DeparturesArgument } from '../src/admin/table-departures.js';
import { departuresAsOf, departuresSql, TableDepartures } from '../src/admin/table-departures.js';
import { allPages, expectEveryPageAsRebuilt as everyPageAsRebuilt, wholeTable } from './table-as-of-pages.js';

/**
 * The admin's summary of departures (table-departures.ts, migration 28): the DELETEs and key changes of the months
 * without a departures index (here all of them: nothing has ended), kept per mount and table over final ids only, and
 * handed to table_as_of_page, which reads only the ids above it. The summary must hold exactly the log's departures
 * (DELETEs, key changes, keys deleted and inserted again, one in the default partition), never an open transaction's
 * (its rows are read from the log above the summary until they are final, then summarized: seen once either way); the
 * page must rest on it (a summary missing a departure loses that row: the page did not read the log below it), must
 * not when it is stale (another state) or does not cover the time, and every page of the admin's route must equal the
 * whole-table rebuild at every time, a TRUNCATE after the time included; the page route and the export are each given
 * the mount's summary. An erasure makes a summary stale; a role that may not read the erasures, or a table with more
 * departures than the bound, gets none (the page reads the log). As the application's non-superuser role, which owns
 * its tables.
 */

const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let admin: AdminHandler<null>;
const errors: unknown[] = [];
/** A time after each step of the log, the first before any change. */
const times: string[] = [];

const TABLES = [
  { name: 'public.items', order: 'row_key::int' },
  { name: 'public.pairs', order: `(row_key::jsonb->>0) COLLATE "C", (row_key::jsonb->>1)::int` },
];

/** One page of `table` as of `at` from table_as_of_page itself, given `departures`: its row keys. */
async function pageKeys(table: string, at: string, departures: DeparturesArgument | null): Promise<string[]> {
  const argument = departuresSql('"auditrum"', 3, departures);
  const { rows } = await app.query<{ row_key: string }>(
    `SELECT s.row_key FROM auditrum.table_as_of_page($1::regclass, $2::timestamptz, NULL, NULL, 1001, NULL,
       ${argument.sql}) s`,
    [table, at, ...argument.values],
  );
  return rows.map((row) => row.row_key);
}

/** Every table at every time, paged with each of `limits`, equals the whole-table rebuild. */
function expectEveryPageAsRebuilt(limits?: number[]): Promise<void> {
  return everyPageAsRebuilt(admin, app, TABLES, times, limits);
}

/** Table `name`'s rows as of `at` by the whole-table rebuild: their keys. */
async function wholeKeys(name: string, at: string): Promise<string[]> {
  const table = TABLES.find((t) => t.name === name) as (typeof TABLES)[number];
  return (await wholeTable(app, table, at)).map((row) => (row as string[])[0] as string);
}

async function step(sql: string[]): Promise<void> {
  await withAuditContext({ actor: { id: 'u-1' }, source: 'http' }, async () => {
    for (const statement of sql) await app.query(statement);
  });
  times.push(await now());
}

async function now(): Promise<string> {
  const { rows } = await app.query<{ t: string }>(
    `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`,
  );
  return rows[0]?.t as string;
}

/** The log's departures of `table` (a DELETE's key, a key change's old key), in id order, as the summary spells them. */
async function loggedDepartures(table: string): Promise<{ gone: string[]; moves: string[] }> {
  const { rows } = await db.pool.query<{ operation: string; row_key: string; old_key: string | null }>(
    `SELECT c.operation, c.row_key, CASE WHEN c.operation = 'UPDATE' THEN auditrum._history_old_key(t, c.id) END AS old_key
     FROM auditrum.changes c JOIN auditrum.tracked_tables t ON t.id = c.table_id
     WHERE t.id = (SELECT id FROM auditrum.tracked_tables WHERE format('%I.%I', schema_name, table_name) = $1)
       AND ((c.operation = 'DELETE' AND c.row_key IS NOT NULL)
         OR (c.operation = 'UPDATE' AND c.old_values ?| auditrum._history_key_names(t)))
     ORDER BY c.id`,
    [table],
  );
  return {
    gone: rows.filter((row) => row.operation === 'DELETE').map((row) => row.row_key),
    moves: rows.filter((row) => row.operation === 'UPDATE').map((row) => row.old_key as string),
  };
}

function summarized(departures: DeparturesArgument | null): { gone: string[]; moves: string[] } | null {
  if (departures === null) return null;
  return {
    gone: departures.goneKeys,
    moves: departures.moves.map((move) => (JSON.parse(move) as { old_key: string }).old_key),
  };
}

beforeAll(async () => {
  app = role.openPool({ max: 3 });
  app.on('error', (error) => errors.push(error));
  await db.pool.query(
    `GRANT SELECT ON auditrum.tracked_tables, auditrum.changes, auditrum.api_requests, auditrum.column_names, auditrum.table_versions, auditrum.erasures TO ${pg.escapeIdentifier(role.name)}`,
  );
  await app.query('CREATE TABLE items (id int PRIMARY KEY, v text)');
  await app.query('CREATE TABLE pairs (a text COLLATE "C", b int, v text, PRIMARY KEY (a, b))');
  // Rows from before tracking: nothing is logged of them until they change.
  await app.query(`INSERT INTO items SELECT g, 'old ' || g FROM generate_series(1, 12) g`);
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  for (const table of ['items', 'pairs']) await auditrum.track(`public.${table}`);
  createAuditrum({ pool: app, partitions: false });
  admin = createAdminRoutes({ pool: app, authorize: () => true, onError: (e) => errors.push(e) });
  await step([]);
  await step([
    `INSERT INTO items VALUES (20, 'twenty'), (21, 'twenty-one'), (100, 'hundred')`,
    `INSERT INTO pairs VALUES ('a', 2, 'a2'), ('a', 10, 'a10'), ('b', 1, 'b1'), ('B', 1, 'B1')`,
  ]);
  await step([
    'DELETE FROM items WHERE id IN (3, 20)',
    'UPDATE items SET id = 50 WHERE id = 5',
    `UPDATE pairs SET b = 11 WHERE a = 'a' AND b = 10`,
  ]);
  // Deleted, inserted again and deleted again; moved away and back; a key taken by another row's move.
  await step([
    `INSERT INTO items VALUES (3, 'three again'), (20, 'twenty again')`,
    `UPDATE items SET v = 'four' WHERE id = 4`,
    'UPDATE items SET id = 60 WHERE id = 6',
    'UPDATE items SET id = 6 WHERE id = 60',
    'UPDATE items SET id = 5 WHERE id = 7',
    `DELETE FROM pairs WHERE a = 'B'`,
  ]);
  await step(['DELETE FROM items WHERE id IN (3, 8, 100)', `UPDATE items SET v = 'nine' WHERE id = 9`]);
});

afterAll(async () => {
  await app?.end();
  expect(errors).toEqual([]);
});

describe('the admin’s summary of departures in the months without their index', () => {
  it('holds exactly the log’s departures, and every page equals the whole-table rebuild', async () => {
    const summaries = new TableDepartures(app, '"auditrum"');
    for (const table of TABLES) {
      expect(summarized(await summaries.of(table.name))).toEqual(await loggedDepartures(table.name));
    }
    expect((await summaries.of('public.items'))?.since).toBe('-infinity');
    await expectEveryPageAsRebuilt();
    // Brought up to date at each call: the ids written since.
    await step(['DELETE FROM items WHERE id = 10', 'UPDATE items SET id = 70 WHERE id = 11']);
    expect(summarized(await summaries.of('public.items'))).toEqual(await loggedDepartures('public.items'));
    await expectEveryPageAsRebuilt();
  });

  it('is what the page reads below its last id, and is not read when stale or when it does not cover the time', async () => {
    const summaries = new TableDepartures(app, '"auditrum"');
    const departures = (await summaries.of('public.items')) as DeparturesArgument;
    const at = times[1] as string;
    const whole = await wholeKeys('public.items', at);
    expect(await pageKeys('public.items', at, departures)).toEqual(whole);
    expect(await pageKeys('public.items', at, null)).toEqual(whole);
    // Without the DELETE of 100 (after `at`): the page rests on the summary, so 100 is missing.
    const index = departures.goneKeys.indexOf('100');
    const without = {
      ...departures,
      goneKeys: departures.goneKeys.filter((_, i) => i !== index),
      goneKeysLiteral: null,
      goneTimes: (departures.goneTimes as string[]).filter((_, i) => i !== index),
    };
    expect(await pageKeys('public.items', at, without)).toEqual(whole.filter((key) => key !== '100'));
    // Read under another state of the log, or from a later time than the page's: the log is read instead.
    expect(await pageKeys('public.items', at, { ...without, state: `${departures.state} ` })).toEqual(whole);
    expect(await pageKeys('public.items', at, { ...without, since: times[2] as string })).toEqual(whole);
    // Without the times, which a page whose time is within the summarized months needs: the log is read instead.
    expect(await pageKeys('public.items', at, { ...without, goneTimes: null })).toEqual(whole);
    // As the admin hands it to a page: the DELETEs from the page's time on, each page as rebuilt.
    expect(departuresAsOf(departures, times[0] as string).goneKeys).toEqual(departures.goneKeys);
    // (A millisecond's margin: a departure that close to the time is kept, and the page filters it.)
    const later = new Date(Date.parse(times.at(-1) as string) + 1000).toISOString();
    expect(departuresAsOf(departures, later).goneKeys).toEqual([]);
    for (const time of times) {
      const asOf = departuresAsOf(departures, time);
      expect(await pageKeys('public.items', time, asOf)).toEqual(await wholeKeys('public.items', time));
    }
  });

  it('is read by the admin’s page and its export, for the table asked for', async () => {
    const of = vi.spyOn(TableDepartures.prototype, 'of');
    try {
      const at = times[1] as string;
      const keys = await wholeKeys('public.items', at);
      expect((await allPages(admin, 'public.items', at, 3)).map((row) => row.rowKey)).toEqual(keys);
      const pages = of.mock.calls.length;
      expect(pages).toBeGreaterThan(0);
      const response = await admin({
        method: 'GET',
        path: 'api/table-as-of/export',
        query: new URLSearchParams({ table: 'public.items', at, format: 'ndjson' }),
        headers: {},
        basePath: '/audit-admin',
        raw: null,
      });
      let body = '';
      for await (const chunk of response.body as AsyncIterable<string>) body += chunk;
      const exported = body
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { rowKey: string }).rowKey);
      expect(exported.sort((a, b) => Number(a) - Number(b))).toEqual(keys);
      expect(of.mock.calls.map(([table]) => table)).toEqual(Array(of.mock.calls.length).fill('items'));
      // One for each page, one for the export, each given the summary.
      expect(of.mock.calls.length).toBe(pages + 1);
      for (const result of of.mock.results) {
        expect(((await result.value) as DeparturesArgument | null)?.goneKeys).toContain('100');
      }
    } finally {
      of.mockRestore();
    }
  });

  it('never holds an open transaction’s rows, which the page reads from the log until they are final', async () => {
    const summaries = new TableDepartures(app, '"auditrum"');
    const at = await now();
    const open = await app.connect();
    try {
      await open.query('BEGIN');
      await withAuditContext({ actor: { id: 'u-2' }, source: 'http' }, () =>
        open.query('DELETE FROM items WHERE id = 12'),
      );
      const { rows } = await open.query<{ id: string }>(
        'SELECT max(c.id)::text AS id FROM auditrum.changes c WHERE c.txid = txid_current()',
      );
      const openId = BigInt(rows[0]?.id as string);
      // Others commit meanwhile: the summary grows, but not over the open transaction's id.
      await step(['DELETE FROM items WHERE id = 1']);
      const during = (await summaries.of('public.items')) as DeparturesArgument;
      expect(BigInt(during.upTo)).toBeLessThan(openId);
      expect(during.goneKeys).not.toContain('12');
      expect(await pageKeys('public.items', at, during)).toContain('12');
      await open.query('COMMIT');
      // Committed, not yet summarized: read from the log above the summary, once.
      const keys = await pageKeys('public.items', at, during);
      expect(keys.filter((key) => key === '12')).toEqual(['12']);
      expect(keys).toEqual(await wholeKeys('public.items', at));
    } finally {
      open.release();
    }
    times.push(await now());
    // Final now: summarized, and read from the summary alone (the log is read above it only).
    await summaries.of('public.items');
    const after = (await summaries.of('public.items')) as DeparturesArgument;
    expect(after.goneKeys.filter((key) => key === '12')).toEqual(['12']);
    expect(summarized(after)).toEqual(await loggedDepartures('public.items'));
    const keys = await pageKeys('public.items', at, after);
    expect(keys.filter((key) => key === '12')).toEqual(['12']);
    await expectEveryPageAsRebuilt([3]);
  });

  it('is stale after an erasure, and not kept for a role that may not read the erasures', async () => {
    const summaries = new TableDepartures(app, '"auditrum"');
    const before = (await summaries.of('public.items')) as DeparturesArgument;
    const at = times[1] as string;
    const index = before.goneKeys.indexOf('100');
    const without = {
      ...before,
      goneKeys: before.goneKeys.filter((_, i) => i !== index),
      goneKeysLiteral: null,
      goneTimes: (before.goneTimes as string[]).filter((_, i) => i !== index),
    };
    expect(await pageKeys('public.items', at, without)).not.toContain('100');
    await db.pool.query(
      `SELECT * FROM auditrum.erase('{"table": "public.items", "key": 100, "columns": ["v"]}', 'test')`,
    );
    // Read before the erasure: the page reads the log instead, and the next call reads the summary again.
    expect(await pageKeys('public.items', at, without)).toEqual(await wholeKeys('public.items', at));
    const after = (await summaries.of('public.items')) as DeparturesArgument;
    expect(after.state).not.toBe(before.state);
    expect(summarized(after)).toEqual(await loggedDepartures('public.items'));
    await db.pool.query(`REVOKE SELECT ON auditrum.erasures FROM ${pg.escapeIdentifier(role.name)}`);
    try {
      expect(await summaries.of('public.items')).toBeNull();
    } finally {
      await db.pool.query(`GRANT SELECT ON auditrum.erasures TO ${pg.escapeIdentifier(role.name)}`);
    }
  });

  it('leaves a table with more departures than its bound to the log', async () => {
    const summaries = new TableDepartures(app, '"auditrum"', 4);
    expect(await summaries.of('public.items')).toBeNull();
    expect(summarized(await summaries.of('public.pairs'))).toEqual(await loggedDepartures('public.pairs'));
  });

  it('sends its keys as the array pg would, quotes, backslashes, commas and braces in them', async () => {
    const keys = ['a"b', 'c\\d', 'e,f', '{g}', 'NULL', ' h ', ''];
    await app.query('CREATE TABLE quotes (k text PRIMARY KEY)');
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.quotes');
    await app.query('INSERT INTO quotes SELECT unnest($1::text[])', [keys]);
    await app.query('DELETE FROM quotes');
    const departures = (await new TableDepartures(app, '"auditrum"').of('public.quotes')) as DeparturesArgument;
    expect([...departures.goneKeys].sort()).toEqual([...keys].sort());
    const { rows } = await app.query<{ keys: string[] }>('SELECT $1::text[] AS keys', [departures.goneKeysLiteral]);
    expect(rows[0]?.keys).toEqual(departures.goneKeys);
  });

  it('gives every page as rebuilt after a TRUNCATE after the time (every key of the log a candidate)', async () => {
    await step([`TRUNCATE pairs`, `INSERT INTO pairs VALUES ('c', 3, 'c3')`, 'TRUNCATE items']);
    await step([`INSERT INTO items VALUES (7, 'seven')`]);
    await expectEveryPageAsRebuilt([3]);
  });
  it('holds the departures in the default partition', async () => {
    // A month with no partition of its own (a year ahead, past the months ensure_partitions() makes): its rows are in
    // the default partition. A row deleted there, after every time (the last test: nothing is logged after it).
    await step([`INSERT INTO items VALUES (2, 'two')`, 'DELETE FROM items WHERE id = 2']);
    await db.pool.query(
      `UPDATE auditrum.changes SET changed_at = changed_at + interval '1 year'
       WHERE id = (SELECT max(id) FROM auditrum.changes WHERE operation = 'DELETE' AND row_key = '2')`,
    );
    const { rows } = await db.pool.query<{ partition: string }>(
      `SELECT tableoid::regclass::text AS partition FROM auditrum.changes WHERE operation = 'DELETE' AND row_key = '2'`,
    );
    expect(rows).toEqual([{ partition: 'auditrum.changes_default' }]);
    const summaries = new TableDepartures(app, '"auditrum"');
    const departures = (await summaries.of('public.items')) as DeparturesArgument;
    expect(summarized(departures)).toEqual(await loggedDepartures('public.items'));
    expect(departures.goneKeys).toContain('2');
    await expectEveryPageAsRebuilt([3]);
  });
});
