import { createAuditrum, RestoreError } from '@auditrum/core';
import type { ChangesResponse, RowAsOfResponse, TablesResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantRestoreReader, rowsAsText } from './restore-support.js';

// A tracked table dropped and made again under the same name (with the same columns, the case where matching by name
// or position shows the old rows as the new table's past) is another table: its history begins at its tracking.
// Tables owned and written by a non-superuser application role, tracked by the schema owner.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let owner: ReturnType<typeof createAuditrum>;
let restorer: ReturnType<typeof createAuditrum>;

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  await grantRestoreReader(db.pool, role.name);
  owner = createAuditrum({ pool: db.pool, partitions: false });
  restorer = createAuditrum({ pool: app, partitions: false });
});

afterAll(async () => {
  await restorer.close();
  await owner.close();
});

async function now(): Promise<string> {
  const { rows } = await db.pool.query<{ at: string }>(`SELECT to_json(clock_timestamp()) #>> '{}' AS at`);
  return rows[0]?.at as string;
}

async function registry(name: string) {
  const { rows } = await db.pool.query<{ id: number; tracked: boolean; live: boolean }>(
    `SELECT id, untracked_at IS NULL AS tracked, EXISTS (SELECT FROM pg_class c WHERE c.oid = t.relid) AS live
     FROM auditrum.tracked_tables t WHERE table_name = $1 ORDER BY id`,
    [name],
  );
  return rows;
}

describe('a table dropped and made again under the same name', () => {
  let oldTime: string;
  let oldId: number;
  let newId: number;

  beforeAll(async () => {
    await app.query('CREATE TABLE items (id int PRIMARY KEY, name text, qty int)');
    oldId = Number((await owner.track('items')).tableId);
    await app.query(`INSERT INTO items VALUES (1, 'old one', 5), (2, 'old two', 7)`);
    await app.query(`UPDATE items SET qty = 6 WHERE id = 1`);
    await app.query('DELETE FROM items WHERE id = 2');
    oldTime = await now();
    await app.query('DROP TABLE items');
    await app.query('CREATE TABLE items (id int PRIMARY KEY, name text, qty int)');
    await app.query(`INSERT INTO items VALUES (1, 'new one', 1)`);
    newId = Number((await owner.track('items')).tableId);
  });

  it('gets a registry row of its own; the dropped one keeps its id and history, untracked', async () => {
    expect(newId).not.toBe(oldId);
    expect(await registry('items')).toEqual([
      { id: oldId, tracked: false, live: false },
      { id: newId, tracked: true, live: true },
    ]);
    const { rows } = await db.pool.query<{ table_id: number; n: number }>(
      `SELECT table_id, count(*)::int AS n FROM auditrum.changes WHERE table_id = ANY ($1) AND row_key IS NOT NULL
       GROUP BY table_id ORDER BY table_id`,
      [[oldId, newId]],
    );
    expect(rows).toEqual([{ table_id: oldId, n: 4 }]);
    // auditrum status lists the live table once, under its new id.
    const status = await owner.status();
    expect(status.tables.filter((table) => table.table === 'public.items').map((table) => table.id)).toEqual([newId]);
  });

  it('has no past from the old table: as of a time then, its row is known only from its tracking on', async () => {
    // The new row 1 was inserted before the new table was tracked: before then it is known only by its key.
    expect(await owner.rowAsOf({ table: 'items', key: 1, at: oldTime })).toMatchObject({
      exists: true,
      values: { id: 1 },
      unknown: [
        { column: 'name', reason: 'before_tracking' },
        { column: 'qty', reason: 'before_tracking' },
      ],
      lastChangeId: null,
    });
    expect((await owner.rowAsOf({ table: 'items', key: 2, at: oldTime })).exists).toBe(false);
    const rows: [string, Record<string, unknown>][] = [];
    for await (const row of await owner.tableAsOf({ table: 'items', at: oldTime })) rows.push([row.rowKey, row.values]);
    expect(rows).toEqual([['1', { id: 1 }]]);
    const { rows: page } = await db.pool.query(
      `SELECT row_key, "values" FROM auditrum.table_as_of_page('items', $1, NULL, NULL, 10)`,
      [oldTime],
    );
    expect(page).toEqual([{ row_key: '1', values: { id: 1 } }]);
    expect(await owner.fieldHistory({ table: 'items', key: 1, field: 'qty' })).toEqual([]);
  });

  it('blames none of the old table’s changes, lists none of its deleted rows, and restores nothing from it', async () => {
    const blame = await owner.blame({ table: 'items', key: 1 });
    expect(blame.fields.map((field) => [field.field, field.change?.id ?? null, field.unknown ?? null])).toEqual([
      ['id', null, 'before_tracking'],
      ['name', null, 'before_tracking'],
      ['qty', null, 'before_tracking'],
    ]);
    expect((await owner.deletedRows({ table: 'items' })).rows).toEqual([]);
    const refused = await restorer
      .undelete({ table: 'items', key: 2 }, { reason: 'from the old table' })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RestoreError);
    expect(await rowsAsText(app, 'items')).toEqual(['(1,"new one",1)']);
  });

  it('shows in the admin as two tables of one name, the name finding the live one', async () => {
    const admin = createAdminRoutes({ pool: db.pool, authorize: () => true });
    const get = async <T>(path: string, query: Record<string, string> = {}): Promise<T> => {
      const response = await admin({
        method: 'GET',
        path,
        query: new URLSearchParams(query),
        headers: {},
        basePath: '/audit-admin',
        raw: {},
      });
      expect(response.status, `${path} ${response.body}`).toBe(200);
      return JSON.parse(response.body as string) as T;
    };
    const { tables } = await get<TablesResponse>('api/tables');
    expect(tables.filter((t) => t.table === 'items').map((t) => t.id)).toEqual([newId, oldId]);
    // The old table's changes are still in the log, under its own id; a filter by the name reads the live table's.
    const changes = await get<ChangesResponse>('api/changes', { table: 'public.items' });
    expect(changes.items).toEqual([]);
    const row = await get<RowAsOfResponse>('api/row-as-of', { table: 'public.items', key: '2', at: oldTime });
    expect(row.exists).toBe(false);
  });

  it('reads its own history from its tracking on', async () => {
    await app.query(`UPDATE items SET qty = 2 WHERE id = 1`);
    const history = await owner.fieldHistory({ table: 'items', key: 1, field: 'qty' });
    expect(history.map((entry) => [entry.operation, entry.oldValue, entry.value])).toEqual([['UPDATE', 1, 2]]);
  });
});

describe('a table renamed away while untracked, and another given its name', () => {
  it('keeps each history with its own relation', async () => {
    await app.query('CREATE TABLE boxes (id int PRIMARY KEY, label text)');
    const first = Number((await owner.track('boxes')).tableId);
    await app.query(`INSERT INTO boxes VALUES (1, 'first')`);
    const inserted = await now();
    await owner.untrack('boxes');
    await app.query('ALTER TABLE boxes RENAME TO boxes_archive');
    await app.query('CREATE TABLE boxes (id int PRIMARY KEY, label text)');
    const second = Number((await owner.track('boxes')).tableId);
    expect(second).not.toBe(first);
    // Tracked again, the renamed table takes its own registry row back, under its name now.
    expect(Number((await owner.track('boxes_archive')).tableId)).toBe(first);
    const { rows } = await db.pool.query(
      `SELECT id, table_name FROM auditrum.tracked_tables WHERE id = ANY ($1) ORDER BY id`,
      [[first, second]],
    );
    expect(rows).toEqual([
      { id: first, table_name: 'boxes_archive' },
      { id: second, table_name: 'boxes' },
    ]);
    expect((await owner.rowAsOf({ table: 'boxes_archive', key: 1, at: inserted })).values).toEqual({
      id: 1,
      label: 'first',
    });
    expect((await owner.rowAsOf({ table: 'boxes', key: 1, at: inserted })).exists).toBe(false);
  });
});

describe('a tracked name whose table was dropped or renamed while Auditrum did not follow it', () => {
  it('ends the dropped table’s history with a drop, follows the renamed one, and gives the new table its own', async () => {
    await app.query('CREATE TABLE crates (id int PRIMARY KEY, label text)');
    await app.query('CREATE TABLE bins (id int PRIMARY KEY, label text)');
    const crates = Number((await owner.track('crates')).tableId);
    const bins = Number((await owner.track('bins')).tableId);
    await app.query(`INSERT INTO crates VALUES (1, 'old crate')`);
    // Without the event triggers (none can be created without a superuser) the drop and the rename go unseen.
    await db.pool.query('ALTER EVENT TRIGGER auditrum_capture_guard_drop DISABLE');
    await db.pool.query('ALTER EVENT TRIGGER auditrum_follow_ddl DISABLE');
    try {
      await app.query('DROP TABLE crates');
      await app.query('ALTER TABLE bins RENAME TO bins_old');
    } finally {
      await db.pool.query('ALTER EVENT TRIGGER auditrum_capture_guard_drop ENABLE');
      await db.pool.query('ALTER EVENT TRIGGER auditrum_follow_ddl ENABLE');
    }
    await app.query('CREATE TABLE crates (id int PRIMARY KEY, label text)');
    await app.query('CREATE TABLE bins (id int PRIMARY KEY, label text)');
    const newCrates = Number((await owner.track('crates')).tableId);
    const newBins = Number((await owner.track('bins')).tableId);
    expect([newCrates, newBins]).not.toContain(crates);
    expect(newBins).not.toBe(bins);
    const { rows } = await db.pool.query(
      `SELECT id, table_name, untracked_at IS NULL AS tracked FROM auditrum.tracked_tables WHERE id = ANY ($1) ORDER BY id`,
      [[crates, bins, newCrates, newBins]],
    );
    expect(rows).toEqual(
      [
        { id: crates, table_name: 'crates', tracked: false },
        { id: bins, table_name: 'bins_old', tracked: true },
        { id: newCrates, table_name: 'crates', tracked: true },
        { id: newBins, table_name: 'bins', tracked: true },
      ].sort((a, b) => a.id - b.id),
    );
    const { rows: drops } = await db.pool.query(
      `SELECT new_values->>'ddl' AS ddl FROM auditrum.changes
       WHERE table_id = $1 AND operation = 'DDL' AND new_values->>'event' = 'table_dropped'`,
      [crates],
    );
    expect(drops).toEqual([{ ddl: 'DROP TABLE public.crates;' }]);
    expect((await owner.rowAsOf({ table: 'crates', key: 1, at: await now() })).exists).toBe(false);
  });

  it('never takes a dropped table’s registry row for a new table that got its oid', async () => {
    await app.query('CREATE TABLE jars (id int PRIMARY KEY)');
    const old = Number((await owner.track('jars')).tableId);
    await app.query('INSERT INTO jars VALUES (1)');
    await app.query('DROP TABLE jars');
    await app.query('CREATE TABLE pots (id int PRIMARY KEY)');
    // PostgreSQL may give a new table the oid of a dropped one (oids wrap around): as if it had.
    await db.pool.query(`UPDATE auditrum.tracked_tables SET relid = 'pots'::regclass WHERE id = $1`, [old]);
    const pots = Number((await owner.track('pots')).tableId);
    expect(pots).not.toBe(old);
    expect((await owner.rowAsOf({ table: 'pots', key: 1, at: await now() })).exists).toBe(false);
  });
});
