import { createAuditrum } from '@auditrum/core';
import type { AdminHandler } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allPages, shaped, wholeTable } from './table-as-of-pages.js';

/**
 * A table as of a time whose text keys are as long as a primary key's index takes (2,560 characters here; 2.7 kB
 * and more when they compress), paged one row at a time: each page's cursor carries the last key, and the route
 * refused the cursors it had given itself (`cursor: longer than 2800 characters`), so no page after the first could
 * be read. As a non-superuser application role that owns the table.
 */

const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let admin: AdminHandler<null>;
let at = '';
const table = { name: 'public.urls', order: 'row_key COLLATE "C"' };

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  await grantLogReads(db, role);
  await app.query('CREATE TABLE urls (url text COLLATE "C" PRIMARY KEY, v text)');
  await createAuditrum({ pool: db.pool, partitions: false }).track('public.urls');
  createAuditrum({ pool: app, partitions: false });
  // Keys of hex digits, which compress little.
  await app.query(
    `INSERT INTO urls SELECT string_agg(md5(g::text || i::text), '' ORDER BY g), 'v' || i
     FROM generate_series(1, 3) i, generate_series(1, 80) g GROUP BY i`,
  );
  at = new Date().toISOString();
  await app.query(`DELETE FROM urls WHERE v = 'v2'`);
  admin = createAdminRoutes({ pool: app, authorize: () => true });
});

afterAll(async () => {
  await app?.end();
});

async function get(path: string, query: Record<string, string>): Promise<{ status: number; body: unknown }> {
  const response = await admin({
    method: 'GET',
    path,
    query: new URLSearchParams(query),
    headers: {},
    basePath: '',
    raw: null,
  });
  return { status: response.status, body: JSON.parse(String(response.body)) };
}

describe('a table as of a time with long keys', () => {
  it('pages through every key one row at a time, with and without a key filter', async () => {
    const rows = await allPages(admin, 'public.urls', at, 1);
    expect(rows.map((row) => [row.rowKey.length, row.values.v])).toEqual([
      [2560, 'v1'],
      [2560, 'v2'],
      [2560, 'v3'],
    ]);
    expect(shaped(rows)).toEqual(await wholeTable(app, table, at));
    expect(shaped(await allPages(admin, 'public.urls', at, 1, 'a'))).toEqual(await wholeTable(app, table, at, 'a'));
  });

  it('reads a long key’s row as of a time, its history, a field’s history, its blame and its changes', async () => {
    const { rows } = await app.query<{ url: string }>(`SELECT url FROM urls WHERE v = 'v1'`);
    const key = rows[0]?.url as string;
    const query = { table: 'public.urls', key };
    const answers = [
      await get('api/row-as-of', { ...query, at }),
      await get('api/history', query),
      await get('api/field-history', { ...query, field: 'v' }),
      await get('api/blame', query),
      await get('api/changes', query),
      await get('api/table-as-of', { table: 'public.urls', at, key }),
    ];
    // Keys longer than 1,000 characters were refused: 400 `key: longer than 1000 characters`.
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(answers.map((answer) => answer.body)).toMatchObject([
      { exists: true, values: { v: 'v1' } },
      { versions: [{ change: { newValues: { v: 'v1' } } }] },
      { entries: [{ value: 'v1' }] },
      {
        fields: [
          { field: 'url', newValue: key },
          { field: 'v', newValue: 'v1' },
        ],
      },
      { items: [{ rowKey: key }] },
      { exact: { values: { v: 'v1' } } },
    ]);
  });
});
