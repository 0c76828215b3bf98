import { createAuditrum, withAuditContext } from '@auditrum/core';
import type { DeletedRowsResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeptDepartures, PageDepartures } from '../src/admin/table-departures.js';
import { departuresSql, TableDepartures } from '../src/admin/table-departures.js';
import { deletedRows } from '../src/history/restore/deleted-rows.js';
import type { OrderedTable } from './table-as-of-pages.js';
import { expectEveryPageAsRebuilt, wholeTable } from './table-as-of-pages.js';

/**
 * The summary of departures ensure_partitions() keeps (migration 38): every tracked table's DELETEs and key changes of
 * the months without a departures index (here all of them), over the settled ids. A new admin mount hands it to a page
 * of a table as of a time (same `since`, same state of the log, its newest change still there), which reads it and the
 * changes above it. It must hold exactly the log's departures: never an open transaction's (not settled: left to the
 * next call), a change after it found above it, a summary under another state (an erasure) or of a log emptied since
 * not taken (the mount's own instead), and made again by the next call; the page must rest on it. Every page of a
 * newly mounted admin equals the whole-table rebuild. The recycle bin reads the current month's DELETEs from it. The
 * application's non-superuser role owns the tables, writes, and is the admin's pool (one connection in one test).
 */

const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
const errors: unknown[] = [];
/** A time after each step of the log, the first before any change. */
const times: string[] = [];
const TABLES = [{ name: 'public.items', order: 'row_key::int' }];

async function step(sql: string[]): Promise<void> {
  await withAuditContext({ actor: { id: 'u-1' }, source: 'http' }, async () => {
    for (const statement of sql) await app.query(statement);
  });
  const { rows } = await app.query<{ t: string }>(
    `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`,
  );
  times.push(rows[0]?.t as string);
}

/** The log's departures of items (a DELETE's key, a key change's old key), in id order, as a summary spells them. */
async function logged(): Promise<{ gone: string[]; moves: string[] }> {
  const { rows } = await db.pool.query<{ operation: string; row_key: string; old_key: string | null }>(
    `SELECT c.operation, c.row_key, CASE WHEN c.operation = 'UPDATE' THEN auditrum._history_old_key(t, c.id) END AS old_key
     FROM auditrum.changes c JOIN auditrum.tracked_tables t ON t.id = c.table_id
     WHERE t.table_name = 'items' AND ((c.operation = 'DELETE' AND c.row_key IS NOT NULL)
         OR (c.operation = 'UPDATE' AND c.old_values ?| auditrum._history_key_names(t)))
     ORDER BY c.id`,
  );
  return {
    gone: rows.filter((row) => row.operation === 'DELETE').map((row) => row.row_key),
    moves: rows.filter((row) => row.operation === 'UPDATE').map((row) => row.old_key as string),
  };
}

/** The kept summary of items: its departures as `logged` spells them, and up to which id. */
async function kept(): Promise<{ upTo: string | null; gone: string[]; moves: string[] }> {
  const { rows } = await db.pool.query<{ up_to: string | null; gone: string[]; moves: string[] }>(
    `SELECT (SELECT k.summarized_to::text FROM auditrum.kept_departures_tables k WHERE k.table_id = t.id) AS up_to,
       ARRAY(SELECT d.gone_key FROM auditrum.kept_departures d WHERE d.table_id = t.id AND d.move IS NULL
         ORDER BY d.id) AS gone,
       ARRAY(SELECT d.move->>'old_key' FROM auditrum.kept_departures d WHERE d.table_id = t.id AND d.move IS NOT NULL
         ORDER BY d.id) AS moves
     FROM auditrum.tracked_tables t WHERE t.table_name = 'items'`,
  );
  const row = rows[0] as { up_to: string | null; gone: string[]; moves: string[] };
  return { upTo: row.up_to, gone: row.gone, moves: row.moves };
}

/** What a new mount hands a page of items as of `at`: the kept summary, or (null) one of its own. */
async function keptFor(at: string, pool = app): Promise<KeptDepartures | null> {
  const departures = await new TableDepartures(pool, '"auditrum"').forPage('public.items', at);
  return departures !== null && 'kept' in departures ? departures : null;
}

/** One page of items as of `at` from table_as_of_page itself, given `departures`: its row keys. */
async function pageKeys(at: string, departures: PageDepartures | null): Promise<string[]> {
  const argument = departuresSql('"auditrum"', 3, departures);
  const { rows } = await app.query<{ row_key: string }>(
    `SELECT s.row_key FROM auditrum.table_as_of_page($1::regclass, $2::timestamptz, NULL, NULL, 1001, NULL,
       ${argument.sql}) s`,
    ['public.items', at, ...argument.values],
  );
  return rows.map((row) => row.row_key);
}

async function wholeKeys(at: string): Promise<string[]> {
  return (await wholeTable(app, TABLES[0] as OrderedTable, at)).map((row) => (row as string[])[0] as string);
}

async function maxId(): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>('SELECT max(id)::text AS id FROM auditrum.changes');
  return rows[0]?.id as string;
}

function everyPageAsRebuilt(pool = app): Promise<void> {
  const admin = createAdminRoutes({ pool, authorize: () => true, onError: (e) => errors.push(e) });
  return expectEveryPageAsRebuilt(admin, app, TABLES, times, [3]);
}

beforeAll(async () => {
  app = role.openPool({ max: 3 });
  app.on('error', (error) => errors.push(error));
  await db.pool.query(
    `GRANT SELECT ON auditrum.tracked_tables, auditrum.changes, auditrum.api_requests, auditrum.column_names,
       auditrum.table_versions, auditrum.erasures, auditrum.kept_departures, auditrum.kept_departures_tables
     TO ${pg.escapeIdentifier(role.name)}`,
  );
  await app.query('CREATE TABLE items (id int PRIMARY KEY, v text)');
  await app.query(`INSERT INTO items SELECT g, 'old ' || g FROM generate_series(1, 12) g`);
  await createAuditrum({ pool: db.pool, partitions: false }).track('public.items');
  await step([]);
  await step([`INSERT INTO items VALUES (20, 'twenty'), (21, 'twenty-one'), (100, 'hundred')`]);
  await step(['DELETE FROM items WHERE id IN (3, 20)', 'UPDATE items SET id = 50 WHERE id = 5']);
  await step([`INSERT INTO items VALUES (3, 'three again')`, 'UPDATE items SET id = 5 WHERE id = 7']);
});

afterAll(async () => {
  await app?.end();
  expect(errors).toEqual([]);
});

describe('the summary of departures ensure_partitions() keeps', () => {
  it('holds the settled departures, never an open transaction’s, and a new mount starts from it', async () => {
    expect(await kept()).toEqual({ upTo: null, gone: [], moves: [] });
    const open = await app.connect();
    try {
      await open.query('BEGIN');
      await withAuditContext({ actor: { id: 'u-2' }, source: 'http' }, () =>
        open.query('DELETE FROM items WHERE id = 12'),
      );
      // Written after the open transaction's id: not settled while it is open.
      await step(['DELETE FROM items WHERE id = 1']);
      // Waits up to a second for the open transaction, then leaves the summary as it was (none yet).
      await db.pool.query('SELECT auditrum.ensure_partitions()');
      expect(await kept()).toEqual({ upTo: null, gone: [], moves: [] });
      await open.query('COMMIT');
    } finally {
      open.release();
    }
    await step([]);
    await db.pool.query('SELECT auditrum.ensure_partitions()');
    const all = await logged();
    expect(all.gone).toEqual(['3', '20', '12', '1']);
    expect(await kept()).toEqual({ upTo: await maxId(), ...all });
    // A new mount hands the kept summary to the page, which reads it: a departure taken out of it (20, deleted after
    // `at`) is missing from the page, which rests on it.
    const at = times[1] as string;
    const departures = await keptFor(at);
    expect(departures?.kept).toEqual({ table: 'public.items', at, since: '-infinity', state: expect.any(String) });
    const whole = await wholeKeys(at);
    expect(whole).toContain('20');
    expect(await pageKeys(at, departures)).toEqual(whole);
    const taken = `auditrum.kept_departures WHERE gone_key = '20'`;
    await db.pool.query(`CREATE TABLE public.taken AS SELECT * FROM ${taken}`);
    await db.pool.query(`DELETE FROM ${taken}`);
    expect(await pageKeys(at, departures)).toEqual(whole.filter((key) => key !== '20'));
    await db.pool.query('INSERT INTO auditrum.kept_departures SELECT * FROM public.taken');
    await db.pool.query('DROP TABLE public.taken');
    await everyPageAsRebuilt();
  });

  it('is gone on with the changes made after it, read from the log above it, on a pool of one too', async () => {
    const upTo = (await kept()).upTo;
    await step(['DELETE FROM items WHERE id = 2', 'UPDATE items SET id = 70 WHERE id = 11']);
    expect((await kept()).upTo).toBe(upTo);
    expect(await keptFor(times[0] as string)).not.toBeNull();
    await everyPageAsRebuilt();
    const single = role.openPool({ max: 1 });
    try {
      expect(await keptFor(times[0] as string, single)).not.toBeNull();
      await everyPageAsRebuilt(single);
    } finally {
      await single.end();
    }
    await db.pool.query('SELECT auditrum.ensure_partitions()');
    expect(await kept()).toEqual({ upTo: await maxId(), ...(await logged()) });
  });

  it('is not taken under another state of the log (an erasure), and made again by the next call', async () => {
    await db.pool.query(
      `SELECT * FROM auditrum.erase('{"table": "public.items", "key": 100, "columns": ["v"]}', 'test')`,
    );
    // The mount's own summary instead.
    expect(await keptFor(times[0] as string)).toBeNull();
    const own = await new TableDepartures(app, '"auditrum"').forPage('public.items', times[0] as string);
    expect(own !== null && 'goneKeys' in own ? own.goneKeys : null).toEqual((await logged()).gone);
    await db.pool.query('SELECT auditrum.ensure_partitions()');
    expect(await kept()).toEqual({ upTo: await maxId(), ...(await logged()) });
    expect(await keptFor(times[0] as string)).not.toBeNull();
  });

  it('is not taken once the log was emptied and its ids drawn again, and made again by the next call', async () => {
    await db.pool.query('TRUNCATE auditrum.changes');
    await db.pool.query(`SELECT setval('auditrum.changes_id_seq', 1, false)`);
    await step([`INSERT INTO items VALUES (200, 'x'), (201, 'y')`, 'DELETE FROM items WHERE id = 200']);
    // The kept summary's ids are other changes now: a new mount reads the log.
    expect(await keptFor(times[0] as string)).toBeNull();
    await db.pool.query('SELECT auditrum.ensure_partitions()');
    expect(await kept()).toEqual({ upTo: await maxId(), gone: ['200'], moves: [] });
    expect(await keptFor(times[0] as string)).not.toBeNull();
  });

  it('forgets a table no longer tracked', async () => {
    await createAuditrum({ pool: db.pool, partitions: false }).untrack('public.items');
    await db.pool.query('SELECT auditrum.ensure_partitions()');
    const { rows } = await db.pool.query(
      'SELECT (SELECT count(*) FROM auditrum.kept_departures)::int AS rows, (SELECT count(*) FROM auditrum.kept_departures_tables)::int AS tables',
    );
    expect(rows).toEqual([{ rows: 0, tables: 0 }]);
  });
});

/** The bin of table `name` as the log holds it: each key whose latest change is a DELETE, newest DELETE first. */
async function loggedBin(name: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ key: string }>(
    `SELECT c.row_key AS key FROM auditrum.changes c JOIN auditrum.tracked_tables t ON t.id = c.table_id
     WHERE t.table_name = $1 AND c.operation = 'DELETE'
       AND NOT EXISTS (SELECT FROM auditrum.changes l WHERE l.table_id = c.table_id AND l.row_key = c.row_key AND l.id > c.id)
     ORDER BY c.id DESC`,
    [name],
  );
  return rows.map((row) => row.key);
}

/** Every page of deletedRows() of `limit` rows with this search limit, following `next` to the end: the keys. */
async function everyBinKey(limit: number, searchLimit: number | undefined): Promise<string[]> {
  const keys: string[] = [];
  let before: string | undefined;
  for (let pages = 0; pages < 400; pages++) {
    const bin = await deletedRows(app, 'auditrum', {
      table: 'public.bin',
      limit,
      ...(searchLimit === undefined ? {} : { searchLimit }),
      ...(before ? { before } : {}),
    });
    keys.push(...bin.rows.map((row) => row.rowKey));
    if (bin.next === null) return keys;
    before = bin.next;
  }
  throw new Error('the bin did not end');
}

async function binPage(): Promise<DeletedRowsResponse> {
  const admin = createAdminRoutes({ pool: app, authorize: () => true, onError: (e) => errors.push(e) });
  const query = new URLSearchParams({ table: 'public.bin', limit: '3' });
  const response = await admin({ method: 'GET', path: 'api/deleted', query, headers: {}, basePath: '', raw: null });
  if (response.status !== 200) throw new Error(String(response.body));
  return JSON.parse(response.body as string) as DeletedRowsResponse;
}

describe('the recycle bin, from the summary of departures ensure_partitions() keeps', () => {
  it('finds the newest DELETEs below an import larger than its first page reads, pages exact wherever they stop', async () => {
    await app.query('CREATE TABLE bin (id int PRIMARY KEY, v text)');
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.bin');
    await app.query(`INSERT INTO bin SELECT g, 'v' || g FROM generate_series(1, 12) g`);
    for (const id of [1, 2, 3, 4, 5, 6]) await app.query('DELETE FROM bin WHERE id = $1', [id]);
    // Deleted and inserted again: not in the bin.
    await app.query(`INSERT INTO bin VALUES (2, 'again')`);
    // The newest DELETE so far by id, logged with a time in an earlier month (a statement that began then).
    await app.query('DELETE FROM bin WHERE id = 7');
    await db.pool.query(
      `UPDATE auditrum.changes SET changed_at = changed_at - interval '32 days' WHERE id = (SELECT max(id) FROM auditrum.changes)`,
    );
    await app.query('DELETE FROM bin WHERE id = 9');
    // An import: 60,000 changes of other keys, newer than every DELETE (a first page reads 50,000 of the log).
    await db.pool.query(
      `INSERT INTO auditrum.changes (changed_at, txid, table_id, operation, row_key, new_values)
       SELECT now(), txid_current(), t.id, 'INSERT', 'x' || g, '{}'
       FROM auditrum.tracked_tables t CROSS JOIN generate_series(1, 60000) g WHERE t.table_name = 'bin'`,
    );
    const expected = await loggedBin('bin');
    expect(expected).toEqual(['9', '7', '6', '5', '4', '3', '1']);
    // Without the summary: the first page is empty, and says how far it searched.
    const before = await binPage();
    expect(before.items).toEqual([]);
    expect(before.searchedTo).toBeDefined();
    await db.pool.query('SELECT auditrum.ensure_partitions()');
    const first = await binPage();
    expect(first.items.map((row) => row.rowKey)).toEqual(['9', '7', '6']);
    expect(first.searchedTo).toBeUndefined();
    // A DELETE after the summary (above it, read from the log) and one of a key deleted before (a later one wins).
    await app.query('DELETE FROM bin WHERE id IN (10, 2)');
    const now = await loggedBin('bin');
    expect(now.slice(0, 2).sort()).toEqual(['10', '2']);
    expect((await binPage()).items.map((row) => row.rowKey)).toEqual(now.slice(0, 3));
    for (const searchLimit of [1, 2, 3, 5, 8, 13, undefined]) {
      for (const limit of [1, 2, 3]) {
        expect({ searchLimit, limit, keys: await everyBinKey(limit, searchLimit) }).toEqual({
          searchLimit,
          limit,
          keys: now,
        });
      }
    }
    // A role that may not read the summary reads the log, as before: the same bin.
    await db.pool.query(`REVOKE SELECT ON auditrum.kept_departures FROM ${pg.escapeIdentifier(role.name)}`);
    try {
      expect(await everyBinKey(2, undefined)).toEqual(now);
    } finally {
      await db.pool.query(`GRANT SELECT ON auditrum.kept_departures TO ${pg.escapeIdentifier(role.name)}`);
    }
  });
});
