import { createAuditrum, withAuditContext } from '@auditrum/core';
import type { AdminErrorBody, AdminHandler, ChangesResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The changes list's `txid` filter (a transaction view: every change one transaction made, from HTTP, a job or
 * psql alike) and `column` filter (UPDATEs that changed a column), on a real database through the route table as a
 * non-superuser application role that owns its tables; bad values are a 400 naming the filter.
 */

const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let admin: AdminHandler<{ user: string }>;
const errors: unknown[] = [];
let txid = '';

async function call(query: Record<string, string>, handler = admin) {
  const response = await handler({
    method: 'GET',
    path: 'api/changes',
    query: new URLSearchParams(query),
    headers: {},
    basePath: '/audit-admin',
    raw: { user: 'staff' },
  });
  return { status: response.status, body: JSON.parse(response.body as string) as unknown };
}

async function list(query: Record<string, string>, handler = admin): Promise<ChangesResponse> {
  const response = await call(query, handler);
  if (response.status !== 200) throw new Error(JSON.stringify(response));
  return response.body as ChangesResponse;
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  app.on('error', () => undefined);
  await grantLogReads(db, role);
  await app.query('CREATE TABLE orders (id int PRIMARY KEY, status text, note text)');
  await app.query('CREATE TABLE stock (id int PRIMARY KEY, qty int)');
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  await auditrum.track('public.orders');
  await auditrum.track('public.stock');
  createAuditrum({ pool: app, partitions: false });
  await app.query(`INSERT INTO orders VALUES (1, 'draft', 'a'), (2, 'draft', 'b')`);
  await app.query('INSERT INTO stock VALUES (1, 10)');
  // One transaction over two tables, from a job; a later one from another source.
  const client = await app.connect();
  try {
    await client.query('BEGIN');
    await withAuditContext({ source: 'job', reason: 'nightly' }, async () => {
      await client.query(`UPDATE orders SET status = 'paid' WHERE id = 1`);
      await client.query('UPDATE stock SET qty = qty - 1 WHERE id = 1');
    });
    txid = (await client.query<{ t: string }>('SELECT txid_current()::text AS t')).rows[0]?.t as string;
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  await app.query(`UPDATE orders SET note = 'c' WHERE id = 2`);
  await app.query(`UPDATE orders SET status = 'shipped', note = 'd' WHERE id = 2`);
  admin = createAdminRoutes({ pool: app, authorize: (req) => req.user === 'staff', onError: (e) => errors.push(e) });
});

afterAll(async () => {
  await app?.end();
  expect(errors).toEqual([]);
});

describe('api/changes?txid=', () => {
  it('lists every change of one transaction, over its tables, and nothing else', async () => {
    const { items } = await list({ txid });
    expect(items.map((c) => [c.table, c.rowKey, c.source, c.txid])).toEqual([
      ['stock', '1', 'job', txid],
      ['orders', '1', 'job', txid],
    ]);
    expect((await list({ txid, table: 'public.stock' })).items).toHaveLength(1);
    expect((await list({ txid: '1' })).items).toEqual([]);
  });

  it('refuses a txid that is not a transaction id, naming it', async () => {
    for (const bad of ['abc', '-1', '1; DROP TABLE orders', '99999999999999999999', '9223372036854775808', '1.5']) {
      const response = await call({ txid: bad });
      expect(response.status).toBe(400);
      expect((response.body as AdminErrorBody).error.parameter).toBe('txid');
    }
  });
});

describe('api/changes?column=', () => {
  it('lists the UPDATEs that changed the column, newest first', async () => {
    const status = await list({ column: 'status' });
    expect(status.items.map((c) => [c.rowKey, c.newValues?.status])).toEqual([
      ['2', 'shipped'],
      ['1', 'paid'],
    ]);
    const note = await list({ column: 'note', table: 'public.orders' });
    expect(note.items.map((c) => c.newValues?.note)).toEqual(['d', 'c']);
    expect((await list({ column: 'qty' })).items.map((c) => c.table)).toEqual(['stock']);
  });

  it('treats a hostile column name as a name (no match), and a too long one as a 400 naming it', async () => {
    expect((await list({ column: "status' OR true --" })).items).toEqual([]);
    const response = await call({ column: 'x'.repeat(64) });
    expect(response.status).toBe(400);
    expect((response.body as AdminErrorBody).error.parameter).toBe('column');
  });
});
