import { createAuditrum, tableAsOf, withAuditContext } from '@auditrum/core';
import type { AdminErrorBody, AdminHandler, AdminResponse, TableRowAsOf } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIRST_PAGE_ROWS } from '../src/admin/table-as-of-export.js';

/**
 * `api/table-as-of/export`: a whole table as of a time, streamed as CSV or NDJSON, on a real database through the
 * route table, as a non-superuser application role that owns its tables: the rows and values of that time (not
 * today's), the key filter, an early stop that gives the connection back, the scope, and a 400 naming the parameter
 * for each bad one (never a 500).
 */

const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let admin: AdminHandler<{ user: string }>;
const errors: unknown[] = [];
let beforeUpdate = '';

function request(query: Record<string, string>, handler = admin): Promise<AdminResponse> {
  return handler({
    method: 'GET',
    path: 'api/table-as-of/export',
    query: new URLSearchParams(query),
    headers: {},
    basePath: '/audit-admin',
    raw: { user: 'staff' },
  });
}

async function text(response: AdminResponse): Promise<string> {
  if (typeof response.body === 'string' || Buffer.isBuffer(response.body)) return String(response.body);
  let all = '';
  for await (const chunk of response.body) all += String(chunk);
  return all;
}

async function refused(query: Record<string, string>, handler = admin) {
  const response = await request(query, handler);
  const { error } = JSON.parse(await text(response)) as AdminErrorBody;
  return { status: response.status, code: error.code, parameter: error.parameter };
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  app.on('error', () => undefined);
  await grantLogReads(db, role);
  await app.query('CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2), tags jsonb)');
  await app.query('CREATE TABLE hidden (id int PRIMARY KEY)');
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  await auditrum.track('public.items');
  await auditrum.track('public.hidden');
  createAuditrum({ pool: app, partitions: false });
  await withAuditContext({ actor: { id: 'u1' }, source: 'http' }, async () => {
    await app.query(
      `INSERT INTO items VALUES (1, 'mug', 12.50, '["a"]'), (2, '=cmd()', NULL, NULL), (12, 'cap', 3, '{}')`,
    );
  });
  beforeUpdate = (
    await app.query<{ t: string }>(
      `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`,
    )
  ).rows[0]?.t as string;
  await app.query(`UPDATE items SET name = 'big mug', price = 14 WHERE id = 1`);
  await app.query('DELETE FROM items WHERE id = 12');
  await app.query(`INSERT INTO items VALUES (3, 'new', 1, NULL)`);
  admin = createAdminRoutes({
    pool: app,
    authorize: (req) => req.user === 'staff',
    scope: () => ({ tables: ['public.items'] }),
    onError: (e) => errors.push(e),
  });
});

afterAll(async () => {
  await app?.end();
  expect(errors).toEqual([]);
});

describe('api/table-as-of/export', () => {
  it('streams the table as it was, as CSV: header of today’s columns and unknown, values of that time', async () => {
    const response = await request({ table: 'public.items', at: beforeUpdate, format: 'csv' });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(response.headers['content-disposition']).toMatch(/^attachment; filename="public\.items-as-of-.*\.csv"$/);
    expect(typeof response.body).not.toBe('string');
    const [header, ...rows] = (await text(response)).trimEnd().split('\n');
    expect(header).toBe('id,name,price,tags,unknown');
    // A formula-like text is defused; NULL is an empty cell; JSON as JSON.
    expect(rows.sort()).toEqual(['1,mug,12.5,"[""a""]",', '12,cap,3,{},', `2,"'=cmd()",,,`]);
  });

  it('streams NDJSON rows in the API’s shape, and keeps only keys that contain `key`', async () => {
    const response = await request({ table: 'public.items', at: beforeUpdate, format: 'ndjson', key: '1' });
    expect(response.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    const rows = (await text(response))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as TableRowAsOf);
    expect(rows.map((row) => [row.rowKey, row.values]).sort()).toEqual([
      ['1', { id: 1, name: 'mug', price: 12.5, tags: ['a'] }],
      ['12', { id: 12, name: 'cap', price: 3, tags: {} }],
    ]);
    expect(rows.every((row) => typeof row.lastChangedAt === 'string')).toBe(true);
  });

  it('gives its connection back when the client stops reading after the first line', async () => {
    for (let i = 0; i < 3; i++) {
      const response = await request({ table: 'public.items', at: beforeUpdate, format: 'csv' });
      const lines = (response.body as AsyncIterable<string>)[Symbol.asyncIterator]();
      // The header leaves with the first row, read before answering.
      expect((await lines.next()).value).toBe('id,name,price,tags,unknown\n1,mug,12.5,"[""a""]",\n');
      await lines.return?.(undefined);
    }
    // A pool of two, three abandoned exports: a query still gets a connection.
    expect((await app.query('SELECT count(*)::int AS n FROM items')).rows).toEqual([{ n: 3 }]);
  });

  it('refuses bad parameters with a 400 naming each, and a table outside the scope as unknown', async () => {
    const at = beforeUpdate;
    expect(await refused({ table: 'public.items', at })).toMatchObject({ status: 400, parameter: 'format' });
    expect(await refused({ table: 'public.items', at, format: 'xml' })).toMatchObject({ parameter: 'format' });
    expect(await refused({ table: 'public.items', format: 'csv' })).toMatchObject({ parameter: 'at' });
    expect(await refused({ table: 'public.items', format: 'csv', at: '2026-01-01T10:00:00' })).toMatchObject({
      status: 400,
      parameter: 'at',
    });
    expect(await refused({ at, format: 'csv' })).toMatchObject({ parameter: 'table' });
    expect(await refused({ table: 'public.hidden', at, format: 'csv' })).toMatchObject({
      status: 400,
      code: 'bad_parameter',
      parameter: 'table',
    });
    expect(await refused({ table: 'public.items; DROP TABLE items', at, format: 'csv' })).toMatchObject({
      parameter: 'table',
    });
    expect((await app.query('SELECT count(*)::int AS n FROM items')).rows).toEqual([{ n: 3 }]);
  });
});

/**
 * A table larger than the first page: the export sends the first rows in key order from the admin's page, then the
 * others from the whole table's rebuild, in one snapshot. Every row of that time exactly once, with its values then.
 */
describe('api/table-as-of/export of a table larger than its first page', () => {
  let wide: AdminHandler<{ user: string }>;
  let small: pg.Pool;
  let at = '';

  beforeAll(async () => {
    await app.query('CREATE TABLE bulk (id int PRIMARY KEY, code text)');
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.bulk');
    await app.query(`INSERT INTO bulk SELECT g, 'c' || g FROM generate_series(1, 300) g`);
    at = (
      await app.query<{ t: string }>(
        `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`,
      )
    ).rows[0]?.t as string;
    // After `at`: rows deleted (inside and after the first page), a key changed, values changed, rows added.
    await app.query('DELETE FROM bulk WHERE id BETWEEN 10 AND 19 OR id = 77');
    await app.query(`UPDATE bulk SET id = 1030 WHERE id = 30`);
    await app.query(`UPDATE bulk SET code = 'later' WHERE id IN (5, 60)`);
    await app.query(`INSERT INTO bulk SELECT g, 'new' FROM generate_series(400, 410) g`);
    small = role.openPool({ max: 2 });
    wide = createAdminRoutes({ pool: small, authorize: (req) => req.user === 'staff', onError: (e) => errors.push(e) });
  });

  afterAll(async () => {
    await small?.end();
  });

  const ndjson = async (query: Record<string, string>) =>
    (await text(await request({ table: 'public.bulk', at, format: 'ndjson', ...query }, wide)))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as TableRowAsOf);

  it('sends every row of that time once, the first page in key order, with the values of that time', async () => {
    const rows = await ndjson({});
    expect(rows.map((row) => row.rowKey).slice(0, FIRST_PAGE_ROWS)).toEqual(
      Array.from({ length: FIRST_PAGE_ROWS }, (_, i) => String(i + 1)),
    );
    expect(rows.map((row) => Number(row.rowKey)).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
    const byKey = new Map(rows.map((row) => [row.rowKey, row.values]));
    for (const key of ['5', '15', '30', '60', '77', '300'])
      expect(byKey.get(key)).toEqual({ id: Number(key), code: `c${key}` });
    // The same rows as the library's whole-table read.
    const whole: string[] = [];
    for await (const row of await tableAsOf(app, 'auditrum', { table: 'public.bulk', at })) {
      whole.push(JSON.stringify([row.rowKey, row.values, row.lastChangeId]));
    }
    expect(rows.map((row) => JSON.stringify([row.rowKey, row.values, row.lastChangeId])).sort()).toEqual(whole.sort());
  });

  it('keeps only keys that contain `key`, on both sides of the first page', async () => {
    const rows = await ndjson({ key: '1' });
    const expected = Array.from({ length: 300 }, (_, i) => String(i + 1)).filter((key) => key.includes('1'));
    expect(expected.length).toBeGreaterThan(FIRST_PAGE_ROWS);
    expect(rows.map((row) => row.rowKey).slice(0, FIRST_PAGE_ROWS)).toEqual(expected.slice(0, FIRST_PAGE_ROWS));
    expect(rows.map((row) => row.rowKey).sort()).toEqual([...expected].sort());
  });

  it('writes CSV with a header and one line per row', async () => {
    const [header, ...lines] = (await text(await request({ table: 'public.bulk', at, format: 'csv' }, wide)))
      .trimEnd()
      .split('\n');
    expect(header).toBe('id,code,unknown');
    expect(lines).toHaveLength(300);
    expect(new Set(lines).size).toBe(300);
    expect(lines).toContain('77,c77,');
  });

  it('keeps its connection, idle, when the client stops reading during the first page', async () => {
    let removed = 0;
    const count = () => removed++;
    small.on('remove', count);
    try {
      const connections = small.totalCount;
      expect(connections).toBeGreaterThan(0);
      for (let i = 0; i < 3; i++) {
        const response = await request({ table: 'public.bulk', at, format: 'ndjson' }, wide);
        const lines = (response.body as AsyncIterable<string>)[Symbol.asyncIterator]();
        expect(JSON.parse(String((await lines.next()).value)).rowKey).toBe('1');
        await lines.return?.(undefined);
        // A discarded connection leaves the pool's count at once: it must not have.
        expect(small.totalCount).toBe(connections);
      }
      // Rolled back and returned: no transaction left open on it, and the pool did not have to reconnect.
      expect(removed).toBe(0);
      const { rows } = await small.query<{ open: number }>(
        `SELECT count(*)::int AS open FROM pg_stat_activity WHERE datname = current_database()
           AND usename = current_user AND state LIKE 'idle in transaction%'`,
      );
      expect(rows).toEqual([{ open: 0 }]);
    } finally {
      small.off('remove', count);
    }
  });

  it('gives its connection back when the client stops reading in the middle of the whole table', async () => {
    let removed = 0;
    const count = () => removed++;
    small.on('remove', count);
    for (let i = 0; i < 3; i++) {
      const response = await request({ table: 'public.bulk', at, format: 'ndjson' }, wide);
      const lines = (response.body as AsyncIterable<string>)[Symbol.asyncIterator]();
      for (let n = 0; n < 60; n++) expect((await lines.next()).done).toBe(false);
      await lines.return?.(undefined);
    }
    // Stopped mid-COPY, each connection was discarded (it could not be reused; the pool reports a removal once the
    // connection has ended), and the pool of two still serves.
    for (let wait = 0; removed < 3 && wait < 200; wait++) await new Promise((resolve) => setTimeout(resolve, 10));
    small.off('remove', count);
    expect(removed).toBe(3);
    // A pool of two, three exports abandoned past their first page: both connections are free again.
    const [a, b] = await Promise.all([small.connect(), small.connect()]);
    a.release();
    b.release();
    expect((await small.query('SELECT count(*)::int AS n FROM bulk')).rows).toEqual([{ n: 300 }]);
  });
});
