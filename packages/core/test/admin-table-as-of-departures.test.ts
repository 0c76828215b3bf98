import { createAuditrum, withAuditContext } from '@auditrum/core';
import type { AdminHandler } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEveryPageAsRebuilt as everyPageAsRebuilt } from './table-as-of-pages.js';

/**
 * The departures index (migration 22): ensure_partitions() makes it on every month of the change log that has ended
 * (capture writes only into the current month's partition, so it pays nothing for them), enable_table_as_of_index() on
 * every partition. table_as_of_page then reads the rows gone since a time (DELETEs and key changes after it) from it
 * in those months, and the other months as before. Every page, walked to the end with two page sizes and with a key
 * filter, must give exactly the rows of the whole-table rebuild (table_as_of), at every time between the changes,
 * with no index, with the ended month's and with the index on every partition: deletes and key changes after the
 * time, keys deleted, inserted again and deleted again, a key moved away and back, composite and text keys, rows from
 * before tracking, a TRUNCATE and an untracked period after the time (which make every key of the log a candidate).
 * The log is captured, then moved two months back (its rows, its tables' recorded states and tracking times), into a
 * month that has ended. On a real database, as a non-superuser application role that owns its tables.
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
  { name: 'public.paused', order: 'row_key::int' },
];

/** Every table (or `tables`) at every time, paged with sizes 1 and 3 and with a key filter, equals the whole-table rebuild. */
function expectEveryPageAsRebuilt(tables = TABLES): Promise<void> {
  return everyPageAsRebuilt(admin, app, tables, times);
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

/** The departures indexes (`table:index:current`), the parent's and the ended months' own. */
async function departureIndexes(): Promise<string[]> {
  const { rows } = await db.pool.query<{ name: string }>(
    `SELECT c.relname || ':' || ic.relname || ':'
         || (obj_description(ic.oid, 'pg_class') = auditrum._departures_tag(auditrum._all_key_names()))::text AS name
     FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid
     WHERE obj_description(ic.oid, 'pg_class') LIKE 'auditrum departures %'
     ORDER BY 1`,
  );
  return rows.map((row) => row.name);
}

/** Whether table_as_of_page reads the departures index for a time (some month after it has a current one). */
async function indexedAfter(at: string): Promise<boolean> {
  const { rows } = await app.query<{ indexed: boolean }>(
    'SELECT auditrum._departures_indexed_until($1, auditrum._departures_tag(auditrum._all_key_names())) IS NOT NULL AS indexed',
    [at],
  );
  return rows[0]?.indexed === true;
}

async function pastMonth(): Promise<{ partition: string; start: string; end: string }> {
  const { rows } = await db.pool.query<{ partition: string; start: string; end: string }>(
    `SELECT 'changes_p' || to_char(m, 'YYYY_MM') AS partition, to_char(m, 'YYYY-MM-DD') AS start,
       to_char(m + interval '1 month', 'YYYY-MM-DD') AS end
     FROM (SELECT date_trunc('month', (now() - interval '2 months') AT TIME ZONE 'UTC') AS m) s`,
  );
  return rows[0] as { partition: string; start: string; end: string };
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  app.on('error', (error) => errors.push(error));
  await grantLogReads(db, role);
  await app.query('CREATE TABLE items (id int PRIMARY KEY, v text)');
  await app.query('CREATE TABLE pairs (a text COLLATE "C", b int, v text, PRIMARY KEY (a, b))');
  await app.query('CREATE TABLE tags (name text COLLATE "C" PRIMARY KEY, v text)');
  await app.query('CREATE TABLE codes (code int PRIMARY KEY, v text)');
  await app.query('CREATE TABLE paused (id int PRIMARY KEY, v text)');
  // Rows from before tracking: nothing is logged of them until they change.
  await app.query(`INSERT INTO items SELECT g, 'old ' || g FROM generate_series(1, 12) g`);
  await app.query(`INSERT INTO codes SELECT g, 'old ' || g FROM generate_series(1, 5) g`);
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  for (const table of ['items', 'pairs', 'tags', 'codes', 'paused']) await auditrum.track(`public.${table}`);
  createAuditrum({ pool: app, partitions: false });
  await step([]);
  await step([
    `INSERT INTO items VALUES (20, 'twenty'), (21, 'twenty-one'), (100, 'hundred')`,
    `INSERT INTO pairs VALUES ('a', 2, 'a2'), ('a', 10, 'a10'), ('b', 1, 'b1'), ('B', 1, 'B1')`,
    `INSERT INTO tags VALUES ('b', 'x'), ('a', 'x'), ('B', 'x'), ('A', 'x'), ('a1', 'x')`,
    `INSERT INTO paused VALUES (1, 'one'), (2, 'two'), (3, 'three')`,
  ]);
  // An untracked period: a row deleted and one inserted unseen (a time within it or before it makes every key of
  // the log a candidate; rows last recorded before it are of unknown existence within it).
  await auditrum.untrack('public.paused');
  await step(['DELETE FROM paused WHERE id = 2', `INSERT INTO paused VALUES (4, 'four')`]);
  await auditrum.track('public.paused');
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
  await step([
    'DELETE FROM items WHERE id IN (3, 8, 100)',
    `UPDATE codes SET code = 40 WHERE code = 4`,
    'DELETE FROM paused WHERE id = 1',
    'UPDATE paused SET id = 30 WHERE id = 3',
  ]);
  await step(['DELETE FROM items WHERE id = 20', 'DELETE FROM codes WHERE code = 2', 'TRUNCATE pairs']);
  await step([`INSERT INTO pairs VALUES ('c', 3, 'c3')`, `UPDATE items SET v = 'nine' WHERE id = 9`]);
  // The log moved two months back, into a month that has ended.
  const month = await pastMonth();
  await db.pool.query(
    `CREATE TABLE auditrum.${month.partition} PARTITION OF auditrum.changes
     FOR VALUES FROM ('${month.start} 00:00:00+00') TO ('${month.end} 00:00:00+00')`,
  );
  const ids = `(SELECT id FROM auditrum.tracked_tables WHERE schema_name = 'public')`;
  await db.pool.query(
    `UPDATE auditrum.changes SET changed_at = changed_at - interval '2 months' WHERE table_id IN ${ids}`,
  );
  await db.pool.query(
    `UPDATE auditrum.table_versions SET recorded_at = recorded_at - interval '2 months' WHERE table_id IN ${ids}`,
  );
  await db.pool.query(
    `UPDATE auditrum.tracked_tables SET tracked_at = tracked_at - interval '2 months' WHERE id IN ${ids}`,
  );
  const { rows } = await db.pool.query<{ t: string }>(
    `SELECT to_char((t::timestamptz - interval '2 months') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t
     FROM unnest($1::text[]) WITH ORDINALITY AS x(t, n) ORDER BY n`,
    [times],
  );
  times.splice(0, times.length, ...rows.map((row) => row.t));
  admin = createAdminRoutes({ pool: app, authorize: () => true, onError: (e) => errors.push(e) });
});

afterAll(async () => {
  await app?.end();
  expect(errors).toEqual([]);
});

describe('table_as_of_page with the departures index', () => {
  it('is made by ensure_partitions() on the ended month only, and every page is as rebuilt with it and without', async () => {
    await expectEveryPageAsRebuilt();
    const month = await pastMonth();
    await db.pool.query('SELECT auditrum.ensure_partitions()');
    expect(await departureIndexes()).toEqual([`${month.partition}:${month.partition}_departures_idx:true`]);
    // Read for a time in that month, not for one after it (nothing after it is indexed: read as before).
    expect([await indexedAfter(times[1] as string), await indexedAfter(new Date().toISOString())]).toEqual([
      true,
      false,
    ]);
    await expectEveryPageAsRebuilt();
  });

  it('holds exactly the DELETEs and the key changes', async () => {
    const month = await pastMonth();
    const { rows } = await db.pool.query<{ operation: string; row_key: string; old: string }>(
      `SELECT c.operation, c.row_key, coalesce(c.old_values::text, '') AS old FROM auditrum.${month.partition} c
       JOIN auditrum.tracked_tables t ON t.id = c.table_id
       WHERE t.table_name = 'items' AND (c.operation = 'DELETE' OR c.old_values ?| '{a,b,code,id,name}'::text[])
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
    const { rows: predicate } = await db.pool.query<{ p: string }>(
      `SELECT pg_get_expr(i.indpred, i.indrelid) AS p FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
       WHERE ic.relname = $1`,
      [`${month.partition}_departures_idx`],
    );
    expect(predicate).toEqual([
      { p: `((operation = 'DELETE'::text) OR (old_values ?| '{a,b,code,id,name}'::text[]))` },
    ]);
  });

  it('enable_table_as_of_index() makes it on every partition instead, those made later too', async () => {
    const { rows } = await db.pool.query<{ name: string }>('SELECT auditrum.enable_table_as_of_index() AS name');
    expect(rows).toEqual([{ name: 'changes_departures_idx' }]);
    const indexes = await departureIndexes();
    expect(indexes).toContain('changes:changes_departures_idx:true');
    expect(indexes.filter((name) => name.endsWith('_departures_idx:true'))).toEqual([
      'changes:changes_departures_idx:true',
    ]);
    const { rows: missing } = await db.pool.query<{ missing: string }>(
      `SELECT count(*)::text AS missing FROM pg_inherits h
       WHERE h.inhparent = 'auditrum.changes'::regclass AND NOT EXISTS (SELECT FROM pg_inherits x
         WHERE x.inhparent = 'auditrum.changes_departures_idx'::regclass
           AND x.inhrelid IN (SELECT indexrelid FROM pg_index WHERE indrelid = h.inhrelid))`,
    );
    expect(missing).toEqual([{ missing: '0' }]);
    await expectEveryPageAsRebuilt();
  });

  it('is not read once a table with a key column of another name is tracked, until made again', async () => {
    await app.query('CREATE TABLE skus (sku text PRIMARY KEY, v text)');
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.skus');
    await step([`INSERT INTO skus VALUES ('k1', 'x'), ('k2', 'y')`]);
    await step([`UPDATE skus SET sku = 'k0' WHERE sku = 'k2'`, `DELETE FROM skus WHERE sku = 'k1'`]);
    const skus = [{ name: 'public.skus', order: 'row_key COLLATE "C"' }];
    expect(await departureIndexes()).toEqual(['changes:changes_departures_idx:false']);
    expect(await indexedAfter(times[0] as string)).toBe(false);
    await expectEveryPageAsRebuilt(skus);
    await db.pool.query('SELECT auditrum.enable_table_as_of_index()');
    expect(await departureIndexes()).toEqual(['changes:changes_departures_idx:true']);
    expect(await indexedAfter(times[0] as string)).toBe(true);
    await expectEveryPageAsRebuilt(skus);
  });
});
