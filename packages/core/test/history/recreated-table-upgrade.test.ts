import { createAuditrum, migrate } from '@auditrum/core';
import { useEmptyDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateUpTo } from '../migrate-up-to.js';

// Schema 16 on a log of schema 15, where track() gave a table made under a dropped one's name the dropped one's
// registry row: the upgrade keeps every registry row and change as it is, and from then on a new table gets its own.
// Tables owned and written by a non-superuser role of this test.
const db = useEmptyDatabase();
const RECREATED_TABLES = 16;
let app: pg.Pool;
let appRole: string;

async function registry() {
  const { rows } = await db.pool.query<{ id: number; table_name: string; tracked: boolean }>(
    `SELECT id, table_name, untracked_at IS NULL AS tracked FROM auditrum.tracked_tables ORDER BY id`,
  );
  return rows;
}

beforeAll(async () => {
  await migrateUpTo(db.pool, RECREATED_TABLES);
  appRole = `app_${db.name}`;
  await db.pool.query(`CREATE ROLE ${appRole} LOGIN PASSWORD 'app-password'`);
  await db.pool.query(`GRANT CREATE ON SCHEMA public TO ${appRole}`);
  const url = new URL(db.url);
  url.username = appRole;
  url.password = 'app-password';
  app = db.openPool({ connectionString: url.toString(), max: 1 });
  // Schema 15's track(): the table made again under the name takes the dropped one's registry row.
  await app.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
  await db.pool.query(`SELECT auditrum.track('public.items')`);
  await app.query(`INSERT INTO items VALUES (1, 'old')`);
  await app.query('DROP TABLE items');
  await app.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
  await db.pool.query(`SELECT auditrum.track('public.items')`);
  await app.query(`INSERT INTO items VALUES (2, 'new')`);
});

afterAll(async () => {
  await app?.end();
  await db.pool.query(`DROP OWNED BY ${appRole}`);
  await db.pool.query(`DROP ROLE IF EXISTS ${appRole}`);
});

describe('schema 16 on a log where a dropped table’s name was tracked again', () => {
  it('keeps the registry and the log as they were', async () => {
    const before = await registry();
    const { rows: changes } = await db.pool.query('SELECT count(*)::int AS n FROM auditrum.changes');
    expect(before).toEqual([{ id: 1, table_name: 'items', tracked: true }]);
    await migrate(db.pool);
    expect(await registry()).toEqual(before);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM auditrum.changes')).rows).toEqual(changes);
  });

  it('gives a table made under that name from then on a registry row and a history of its own', async () => {
    const audit = createAuditrum({ pool: db.pool, partitions: false });
    try {
      await app.query('DROP TABLE items');
      await app.query('CREATE TABLE items (id int PRIMARY KEY, name text)');
      await app.query(`INSERT INTO items VALUES (3, 'newest')`);
      const tracked = await audit.track('items');
      expect(tracked.tableId).toBe(2);
      expect(await registry()).toEqual([
        { id: 1, table_name: 'items', tracked: false },
        { id: 2, table_name: 'items', tracked: true },
      ]);
      const { rows: at } = await db.pool.query<{ at: string }>(`SELECT to_json(clock_timestamp()) #>> '{}' AS at`);
      const rows: string[] = [];
      for await (const row of await audit.tableAsOf({ table: 'items', at: at[0]?.at as string })) rows.push(row.rowKey);
      expect(rows).toEqual(['3']);
      expect((await audit.rowAsOf({ table: 'items', key: 2, at: at[0]?.at as string })).exists).toBe(false);
    } finally {
      await audit.close();
    }
  });
});
