import { createAuditrum, withAuditContext } from '@auditrum/core';
import type { AdminHandler, TableAsOfResponse, TableRowAsOf } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The optional departures index (enable_table_as_of_index(), migration 22): table_as_of_page then reads the rows gone
 * since a time (DELETEs and key changes after it) from the index instead of every change since. Every page, walked to
 * the end with two page sizes, must give exactly the rows of the whole-table rebuild (table_as_of), at every
 * time between the changes, with and without the index: deletes and key changes after the time, keys deleted,
 * inserted again and deleted again, a key moved away and back, composite and text keys, rows from before tracking, a
 * TRUNCATE and an untracked period after the time (which make every key of the log a candidate). On a real database,
 * as a non-superuser application role that owns its tables.
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
  { name: 'public.tags', order: 'row_key COLLATE "C"' },
  { name: 'public.codes', order: 'row_key::int' },
];

async function allPages(table: string, at: string, limit: number, key?: string): Promise<TableRowAsOf[]> {
  const rows: TableRowAsOf[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 200; pages++) {
    const response = await admin({
      method: 'GET',
      path: 'api/table-as-of',
      query: new URLSearchParams({
        table,
        at,
        limit: String(limit),
        ...(key === undefined ? {} : { key }),
        ...(cursor === null ? {} : { cursor }),
      }),
      headers: {},
      basePath: '/audit-admin',
      raw: null,
    });
    if (response.status !== 200) throw new Error(String(response.body));
    const page = JSON.parse(response.body as string) as TableAsOfResponse;
    rows.push(...page.items);
    cursor = page.nextCursor;
    if (cursor === null) return rows;
  }
  throw new Error('more than 200 pages');
}

async function wholeTable(table: string, at: string, order: string, key?: string): Promise<unknown[]> {
  const { rows } = await app.query(
    `SELECT row_key, "exists", "values", unknown, last_change_id::text AS last_change_id, rebuilt_from
     FROM auditrum.table_as_of($1::regclass, $2::timestamptz) WHERE $3::text IS NULL OR strpos(row_key, $3) > 0
     ORDER BY ${order}`,
    [table, at, key ?? null],
  );
  return rows.map((row) => [row.row_key, row.exists, row.values, row.unknown, row.last_change_id, row.rebuilt_from]);
}

function shaped(rows: TableRowAsOf[]): unknown[] {
  return rows.map((row) => [row.rowKey, row.exists, row.values, row.unknown, row.lastChangeId, row.rebuiltFrom]);
}

async function step(sql: string[]): Promise<void> {
  await withAuditContext({ actor: { id: 'u-1' }, source: 'http' }, async () => {
    for (const statement of sql) await app.query(statement);
  });
  const { rows } = await app.query<{ t: string }>(
    `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`,
  );
  times.push(rows[0]?.t as string);
}

/** Every table at every time, paged with sizes 1 and 3 and with a key filter, equals the whole-table rebuild. */
async function expectEveryPageAsRebuilt(): Promise<void> {
  for (const at of times) {
    for (const table of TABLES) {
      const whole = await wholeTable(table.name, at, table.order);
      for (const limit of [1, 3]) {
        expect([table.name, times.indexOf(at), limit, shaped(await allPages(table.name, at, limit)).length]).toEqual([
          table.name,
          times.indexOf(at),
          limit,
          whole.length,
        ]);
      }
      expect(shaped(await allPages(table.name, at, 2, '1'))).toEqual(
        await wholeTable(table.name, at, table.order, '1'),
      );
    }
  }
}

async function indexPredicate(keyNames: string[]): Promise<string | null> {
  const { rows } = await app.query<{ p: string | null }>('SELECT auditrum._departures_predicate($1::text[]) AS p', [
    keyNames,
  ]);
  return rows[0]?.p ?? null;
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  app.on('error', (error) => errors.push(error));
  await db.pool.query(
    `GRANT SELECT ON auditrum.tracked_tables, auditrum.changes, auditrum.api_requests, auditrum.column_names, auditrum.table_versions TO ${pg.escapeIdentifier(role.name)}`,
  );
  await app.query('CREATE TABLE items (id int PRIMARY KEY, v text)');
  await app.query('CREATE TABLE pairs (a text COLLATE "C", b int, v text, PRIMARY KEY (a, b))');
  await app.query('CREATE TABLE tags (name text COLLATE "C" PRIMARY KEY, v text)');
  await app.query('CREATE TABLE codes (code int PRIMARY KEY, v text)');
  // Rows from before tracking: nothing is logged of them until they change.
  await app.query(`INSERT INTO items SELECT g, 'old ' || g FROM generate_series(1, 12) g`);
  await app.query(`INSERT INTO codes SELECT g, 'old ' || g FROM generate_series(1, 5) g`);
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  for (const table of ['items', 'pairs', 'tags', 'codes']) await auditrum.track(`public.${table}`);
  createAuditrum({ pool: app, partitions: false });
  await step([]);
  await step([
    `INSERT INTO items VALUES (20, 'twenty'), (21, 'twenty-one'), (100, 'hundred')`,
    `INSERT INTO pairs VALUES ('a', 2, 'a2'), ('a', 10, 'a10'), ('b', 1, 'b1'), ('B', 1, 'B1')`,
    `INSERT INTO tags VALUES ('b', 'x'), ('a', 'x'), ('B', 'x'), ('A', 'x'), ('a1', 'x')`,
  ]);
  await step([
    'DELETE FROM items WHERE id IN (3, 20)',
    'UPDATE items SET id = 50 WHERE id = 5',
    `UPDATE pairs SET b = 11 WHERE a = 'a' AND b = 10`,
    `DELETE FROM tags WHERE name = 'A'`,
  ]);
  // Deleted, inserted again and deleted again; moved away and back; a key taken by another row's move.
  await step([
    `INSERT INTO items VALUES (3, 'three again'), (20, 'twenty again')`,
    `UPDATE items SET v = 'four' WHERE id = 4`,
    'UPDATE items SET id = 60 WHERE id = 6',
    'UPDATE items SET id = 6 WHERE id = 60',
    'UPDATE items SET id = 5 WHERE id = 7',
    `UPDATE tags SET name = 'A' WHERE name = 'a1'`,
    `DELETE FROM pairs WHERE a = 'B'`,
  ]);
  await step(['DELETE FROM items WHERE id IN (3, 8, 100)', `UPDATE codes SET code = 40 WHERE code = 4`]);
  await step(['DELETE FROM items WHERE id = 20', 'DELETE FROM codes WHERE code = 2', 'TRUNCATE pairs']);
  await step([`INSERT INTO pairs VALUES ('c', 3, 'c3')`, `UPDATE items SET v = 'nine' WHERE id = 9`]);
  admin = createAdminRoutes({ pool: app, authorize: () => true, onError: (e) => errors.push(e) });
});

afterAll(async () => {
  await app?.end();
  expect(errors).toEqual([]);
});

describe('table_as_of_page with the departures index (enable_table_as_of_index)', () => {
  it('gives every page as the whole-table rebuild does, at every time, before and after the index is made', async () => {
    expect(await indexPredicate(['id'])).toBeNull();
    await expectEveryPageAsRebuilt();
    const { rows } = await db.pool.query<{ name: string }>('SELECT auditrum.enable_table_as_of_index() AS name');
    expect(rows).toEqual([{ name: 'changes_departures_idx' }]);
    expect(await indexPredicate(['id', 'a', 'b', 'name', 'code'])).not.toBeNull();
    await expectEveryPageAsRebuilt();
  });

  it('holds exactly the DELETEs and key changes, on every partition', async () => {
    await db.pool.query('SELECT auditrum.enable_table_as_of_index()');
    const { rows } = await app.query<{ operation: string; row_key: string; old: string }>(
      `SELECT c.operation, c.row_key, coalesce(c.old_values::text, '') AS old FROM auditrum.changes c
       JOIN auditrum.tracked_tables t ON t.id = c.table_id
       WHERE t.table_name = 'items' AND (c.operation = 'DELETE'
         OR (c.operation = 'UPDATE' AND c.old_values ?| '{id,a,b,name,code}'::text[]))
       ORDER BY c.id`,
    );
    expect(rows.map((row) => `${row.operation} ${row.row_key} ${row.old}`)).toEqual([
      'DELETE 3 {"v": "old 3", "id": 3}',
      'DELETE 20 {"v": "twenty", "id": 20}',
      'UPDATE 50 {"id": 5}',
      'UPDATE 60 {"id": 6}',
      'UPDATE 6 {"id": 60}',
      'UPDATE 5 {"id": 7}',
      'DELETE 8 {"v": "old 8", "id": 8}',
      'DELETE 100 {"v": "hundred", "id": 100}',
      'DELETE 3 {"v": "three again", "id": 3}',
      'DELETE 20 {"v": "twenty again", "id": 20}',
    ]);
    // Every partition of the log has it (those made later too: a partition attached gets the parent's indexes).
    const { rows: partitions } = await db.pool.query<{ missing: string }>(
      `SELECT count(*)::text AS missing FROM pg_inherits h
       WHERE h.inhparent = 'auditrum.changes'::regclass AND NOT EXISTS (SELECT FROM pg_inherits x
         WHERE x.inhparent = 'auditrum.changes_departures_idx'::regclass
           AND x.inhrelid IN (SELECT indexrelid FROM pg_index WHERE indrelid = h.inhrelid))`,
    );
    expect(partitions).toEqual([{ missing: '0' }]);
  });

  it('is read only for tables whose key columns it covers; made again, it covers a table tracked since', async () => {
    await db.pool.query('SELECT auditrum.enable_table_as_of_index()');
    await app.query('CREATE TABLE skus (sku text PRIMARY KEY, v text)');
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.skus');
    await step([`INSERT INTO skus VALUES ('k1', 'x'), ('k2', 'y')`]);
    await step([`UPDATE skus SET sku = 'k0' WHERE sku = 'k2'`, `DELETE FROM skus WHERE sku = 'k1'`]);
    TABLES.push({ name: 'public.skus', order: 'row_key COLLATE "C"' });
    expect(await indexPredicate(['sku'])).toBeNull();
    await expectEveryPageAsRebuilt();
    await db.pool.query('SELECT auditrum.enable_table_as_of_index()');
    expect(await indexPredicate(['sku'])).not.toBeNull();
    await expectEveryPageAsRebuilt();
  });
});
