import { createAuditrum } from '@auditrum/core';
import type { TablesResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `api/tables` lists each visible table with its columns today in table order (the order the admin shows a row's
 * fields in), as a non-superuser application role that owns its tables.
 */

const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
const errors: unknown[] = [];

async function tables(scope?: { tables: string[] }): Promise<TablesResponse> {
  const admin = createAdminRoutes({
    pool: app,
    authorize: () => true,
    scope: () => scope,
    onError: (e) => errors.push(e),
  });
  const response = await admin({
    method: 'GET',
    path: 'api/tables',
    query: new URLSearchParams(),
    headers: {},
    basePath: '/audit-admin',
    raw: {},
  });
  expect(response.status).toBe(200);
  return JSON.parse(response.body as string) as TablesResponse;
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  app.on('error', () => undefined);
  await db.pool.query(`GRANT SELECT ON auditrum.tracked_tables TO ${pg.escapeIdentifier(role.name)}`);
  // Storage order is not alphabetical, nor the order jsonb keeps keys in (shorter first).
  await app.query('CREATE TABLE orders (id int PRIMARY KEY, status text, total numeric, note text, gone int)');
  await app.query('ALTER TABLE orders DROP COLUMN gone');
  await app.query('ALTER TABLE orders ADD COLUMN "Shipped At" timestamptz');
  await app.query('CREATE TABLE temp (id int PRIMARY KEY)');
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  await auditrum.track('public.orders');
  await auditrum.track('public.temp');
  await app.query('DROP TABLE temp');
});

afterAll(async () => {
  await app?.end();
  expect(errors).toEqual([]);
});

describe('api/tables', () => {
  it('gives each table its columns in table order, none for a table dropped since, within the scope', async () => {
    const all = await tables();
    expect(all.tables.map((t) => [`${t.schema}.${t.table}`, t.columns])).toEqual([
      ['public.orders', ['id', 'status', 'total', 'note', 'Shipped At']],
      ['public.temp', []],
    ]);
    const scoped = await tables({ tables: ['public.temp'] });
    expect(scoped.tables.map((t) => t.table)).toEqual(['temp']);
  });
});
