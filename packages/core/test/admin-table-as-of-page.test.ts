import { createAuditrum, withAuditContext } from '@auditrum/core';
import type { AdminErrorBody, AdminHandler, TableAsOfResponse, TableRowAsOf } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `api/table-as-of` pages a table as of a time by rebuilding only the page's rows (table_as_of_page, migration 11):
 * the live table's keys in primary-key order merged with the keys of rows gone since. Every page, walked to the end,
 * must give exactly the rows the whole-table rebuild (table_as_of) gives, in the key's order: rows deleted or moved to
 * another key after the time, rows from before tracking, rows inserted later (absent), after a TRUNCATE; on a real
 * database, as a non-superuser application role that owns its tables.
 */

const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let admin: AdminHandler<null>;
const errors: unknown[] = [];
const times = { before: '', at: '', truncated: '' };

async function call(query: Record<string, string>): Promise<{ status: number; body: unknown }> {
  const response = await admin({
    method: 'GET',
    path: 'api/table-as-of',
    query: new URLSearchParams(query),
    headers: {},
    basePath: '/audit-admin',
    raw: null,
  });
  return { status: response.status, body: JSON.parse(response.body as string) };
}

/** Every page of the route, walked with its cursor: the rows and the number of pages. */
async function allPages(query: Record<string, string>): Promise<{ rows: TableRowAsOf[]; pages: number }> {
  const rows: TableRowAsOf[] = [];
  let pages = 0;
  let cursor: string | null = null;
  do {
    const response = await call({ ...query, ...(cursor === null ? {} : { cursor }) });
    if (response.status !== 200) throw new Error(JSON.stringify(response));
    const page = response.body as TableAsOfResponse;
    rows.push(...page.items);
    pages++;
    cursor = page.nextCursor;
  } while (cursor !== null && pages < 100);
  return { rows, pages };
}

/** What the whole-table rebuild gives, in the key order given, as the route shapes a row (values compared as sets). */
async function wholeTable(table: string, at: string, order: string): Promise<unknown[]> {
  const { rows } = await app.query(
    `SELECT row_key, "values", unknown, last_change_id::text AS last_change_id, rebuilt_from
     FROM auditrum.table_as_of($1::regclass, $2::timestamptz) ORDER BY ${order}`,
    [table, at],
  );
  return rows.map((row) => [row.row_key, row.values, row.unknown, row.last_change_id, row.rebuilt_from]);
}

function shaped(rows: TableRowAsOf[]): unknown[] {
  return rows.map((row) => [row.rowKey, row.values, row.unknown, row.lastChangeId, row.rebuiltFrom]);
}

async function now(): Promise<string> {
  const { rows } = await app.query<{ t: string }>(
    `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`,
  );
  return rows[0]?.t as string;
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  app.on('error', (error) => errors.push(error));
  await grantLogReads(db, role);
  await app.query('CREATE TABLE items (id int PRIMARY KEY, v text)');
  await app.query('CREATE TABLE pairs (a text, b int, v text, PRIMARY KEY (a, b))');
  await app.query('CREATE TABLE bins (id bigint PRIMARY KEY, v text)');
  await app.query('CREATE TABLE tags (name text COLLATE "C" PRIMARY KEY)');
  // Rows from before tracking: nothing is logged of them until they change.
  await app.query(`INSERT INTO items SELECT g, 'old ' || g FROM generate_series(1, 6) g`);
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  for (const table of ['items', 'pairs', 'bins', 'tags']) await auditrum.track(`public.${table}`);
  createAuditrum({ pool: app, partitions: false });
  times.before = await now();
  await withAuditContext({ actor: { id: 'u-1' }, source: 'http' }, async () => {
    await app.query(`INSERT INTO items VALUES (7, 'seven'), (8, 'eight'), (9, 'nine'), (11, 'eleven')`);
    await app.query(`UPDATE items SET v = 'two, changed' WHERE id = 2`);
    await app.query(`INSERT INTO pairs VALUES ('a', 2, 'a2'), ('a', 10, 'a10'), ('b', 1, 'b1'), ('c', 3, 'c3')`);
    await app.query(`INSERT INTO bins VALUES (1, 'x'), (2, 'y'), (3, 'z')`);
    await app.query(`INSERT INTO tags VALUES ('b'), ('a'), ('B'), ('A')`);
  });
  times.at = await now();
  await withAuditContext({ actor: { id: 'u-2' }, source: 'http' }, async () => {
    // Gone since: a row from before tracking and a tracked one deleted, a row from before tracking moved to another
    // key; changed since: its values then are the ones shown; new since: absent.
    await app.query('DELETE FROM items WHERE id IN (3, 8)');
    await app.query(`UPDATE items SET id = 50 WHERE id = 5`);
    await app.query(`UPDATE items SET v = 'two, again' WHERE id = 2`);
    await app.query(`UPDATE items SET v = 'nine, changed' WHERE id = 9`);
    await app.query(`INSERT INTO items VALUES (10, 'ten'), (12, 'twelve')`);
    await app.query(`DELETE FROM pairs WHERE a = 'a' AND b = 10`);
    await app.query(`INSERT INTO pairs VALUES ('a', 5, 'a5')`);
    await app.query('TRUNCATE bins');
    await app.query(`INSERT INTO bins VALUES (4, 'w')`);
    await app.query(`DELETE FROM tags WHERE name = 'A'`);
  });
  times.truncated = await now();
  admin = createAdminRoutes({ pool: app, authorize: () => true, onError: (e) => errors.push(e) });
});

afterAll(async () => {
  await app?.end();
  expect(errors).toEqual([]);
});

describe('api/table-as-of, one page rebuilt at a time', () => {
  it('pages through exactly the rows the whole-table rebuild gives, in primary key order', async () => {
    const { rows, pages } = await allPages({ table: 'public.items', at: times.at, limit: '2' });
    expect(rows.map((row) => row.rowKey)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '11']);
    expect(pages).toBe(5);
    expect(shaped(rows)).toEqual(await wholeTable('public.items', times.at, 'row_key::int'));
    const byKey = new Map(rows.map((row) => [row.rowKey, row]));
    // Deleted since: the tracked row with its values then, the one from before tracking rebuilt from its DELETE.
    expect([byKey.get('8')?.values, byKey.get('3')?.values]).toEqual([
      { id: 8, v: 'eight' },
      { id: 3, v: 'old 3' },
    ]);
    // Moved to key 50 since: under its key then, with its values then.
    expect([byKey.get('5')?.values, byKey.get('5')?.rebuiltFrom]).toEqual([{ id: 5, v: 'old 5' }, 'backward']);
    expect([byKey.get('2')?.values, byKey.get('9')?.values]).toEqual([
      { id: 2, v: 'two, changed' },
      { id: 9, v: 'nine' },
    ]);
  });

  it('gives today the rows of today, and the last page has no cursor', async () => {
    const at = await now();
    const { rows } = await allPages({ table: 'public.items', at, limit: '4' });
    expect(rows.map((row) => row.rowKey)).toEqual(['1', '2', '4', '6', '7', '9', '10', '11', '12', '50']);
    const last = (await call({ table: 'public.items', at, limit: '10' })).body as TableAsOfResponse;
    expect([last.items.length, last.nextCursor]).toEqual([10, null]);
    const { rows: before } = await allPages({ table: 'public.items', at: times.before });
    expect(before.map((row) => row.rowKey)).toEqual(['1', '2', '3', '4', '5', '6']);
  });

  it('keeps only the keys that contain the filter, the gone ones too', async () => {
    const { rows } = await allPages({ table: 'public.items', at: times.at, key: '1', limit: '1' });
    expect(rows.map((row) => row.rowKey)).toEqual(['1', '11']);
    const gone = await allPages({ table: 'public.items', at: times.at, key: '8' });
    expect(gone.rows.map((row) => [row.rowKey, row.values])).toEqual([['8', { id: 8, v: 'eight' }]]);
    const none = await allPages({ table: 'public.items', at: times.at, key: '77' });
    expect([none.rows, none.pages]).toEqual([[], 1]);
  });

  it('orders a composite key by its columns, as its primary key sorts them', async () => {
    const { rows } = await allPages({ table: 'public.pairs', at: times.at, limit: '1' });
    expect(rows.map((row) => row.rowKey)).toEqual(['["a", 2]', '["a", 10]', '["b", 1]', '["c", 3]']);
    expect(shaped(rows)).toEqual(
      await wholeTable('public.pairs', times.at, `row_key::jsonb->>0, (row_key::jsonb->>1)::int`),
    );
    const today = await allPages({ table: 'public.pairs', at: await now(), limit: '3' });
    expect(today.rows.map((row) => row.rowKey)).toEqual(['["a", 2]', '["a", 5]', '["b", 1]', '["c", 3]']);
  });

  it("orders a text key by its column's collation, the gone keys among the live ones", async () => {
    const { rows } = await allPages({ table: 'public.tags', at: times.at, limit: '1' });
    expect(rows.map((row) => row.rowKey)).toEqual(['A', 'B', 'a', 'b']);
  });

  it('finds the rows a TRUNCATE removed since (they are named nowhere after it)', async () => {
    const { rows } = await allPages({ table: 'public.bins', at: times.at, limit: '2' });
    expect(rows.map((row) => [row.rowKey, row.values])).toEqual([
      ['1', { id: 1, v: 'x' }],
      ['2', { id: 2, v: 'y' }],
      ['3', { id: 3, v: 'z' }],
    ]);
    expect(shaped(rows)).toEqual(await wholeTable('public.bins', times.at, 'row_key::bigint'));
    const after = await allPages({ table: 'public.bins', at: times.truncated });
    expect(after.rows.map((row) => row.rowKey)).toEqual(['4']);
  });

  it('refuses a cursor that names no key of the table with a 400 naming the cursor', async () => {
    // A NUL (which no text in PostgreSQL holds) was sent as is: 500, "invalid byte sequence for encoding".
    const cursors = ['k:abc', 'k:["a"', 'k:1\u0000', 'k:\u0000'].map((text) => Buffer.from(text).toString('base64url'));
    for (const [cursor, key] of cursors.flatMap((cursor) => [
      [cursor, ''],
      [cursor, '1'],
    ])) {
      const response = await call({
        table: 'public.items',
        at: times.at,
        cursor: cursor as string,
        key: key as string,
      });
      const { error } = response.body as AdminErrorBody;
      expect([response.status, error.parameter, error.message]).toEqual([
        400,
        'cursor',
        'cursor: not a cursor of this list; pass nextCursor of the previous page as is',
      ]);
    }
  });

  it('leaves the planner settings it changes for its scan of the recent log as they were', async () => {
    const client = await app.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL enable_bitmapscan = off`);
      const page = await client.query(`SELECT * FROM auditrum.table_as_of_page('items', $1, NULL, NULL, 3)`, [
        times.at,
      ]);
      const { rows } = await client.query<{ seq: string; bitmap: string }>(
        `SELECT current_setting('enable_seqscan') AS seq, current_setting('enable_bitmapscan') AS bitmap`,
      );
      expect([page.rowCount, rows]).toEqual([3, [{ seq: 'on', bitmap: 'off' }]]);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });

  it('table_as_of_page refuses a bad page size or time, in SQL, with a clear error', async () => {
    for (const [size, at, message] of [
      [0, times.at, /holds 1 to 1001 rows, not 0/],
      [1002, times.at, /holds 1 to 1001 rows, not 1002/],
      [null, times.at, /holds 1 to 1001 rows, not NULL/],
      [5, 'infinity', /give a finite time/],
    ] as const) {
      await expect(
        app.query('SELECT * FROM auditrum.table_as_of_page($1::regclass, $2, NULL, NULL, $3)', ['items', at, size]),
      ).rejects.toThrow(message);
    }
    await app.query('CREATE TABLE untracked (id int PRIMARY KEY)');
    await expect(
      app.query('SELECT * FROM auditrum.table_as_of_page($1::regclass, $2, NULL, NULL, 5)', ['untracked', times.at]),
    ).rejects.toThrow(/not tracked/);
  });
});
