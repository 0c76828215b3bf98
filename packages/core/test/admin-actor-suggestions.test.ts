import { createAuditrum, withAuditContext } from '@auditrum/core';
import type { ActorsResponse, AdminErrorBody, AdminScope } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `api/actors?q=`: the actor filter's suggestions by label or id, from the recent changes, on a real database as a
 * non-superuser application role that owns its tables: matches in any case, the latest label of each actor, the
 * latest active first, the scope, and hostile input taken as text.
 */

const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
const errors: unknown[] = [];

async function call(query: Record<string, string>, scope?: AdminScope) {
  const admin = createAdminRoutes({
    pool: app,
    authorize: () => true,
    scope: () => scope,
    onError: (e) => errors.push(e),
  });
  const response = await admin({
    method: 'GET',
    path: 'api/actors',
    query: new URLSearchParams(query),
    headers: {},
    basePath: '/audit-admin',
    raw: {},
  });
  return { status: response.status, body: JSON.parse(response.body as string) as unknown };
}

async function suggest(q: string, scope?: AdminScope): Promise<[string, string | null][]> {
  const response = await call({ q }, scope);
  expect(response.status).toBe(200);
  return (response.body as ActorsResponse).actors.map((actor) => [actor.id, actor.label]);
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  app.on('error', () => undefined);
  await db.pool.query(
    `GRANT SELECT ON auditrum.tracked_tables, auditrum.changes, auditrum.api_requests TO ${pg.escapeIdentifier(role.name)}`,
  );
  await app.query('CREATE TABLE orders (id int PRIMARY KEY, status text)');
  await app.query('CREATE TABLE notes (id int PRIMARY KEY, body text)');
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  await auditrum.track('public.orders');
  await auditrum.track('public.notes');
  const as = (id: string, label: string | undefined, sql: string) =>
    withAuditContext({ actor: label === undefined ? { id } : { id, label }, source: 'http' }, () => app.query(sql));
  await as('3', 'carol@old.test', `INSERT INTO orders VALUES (1, 'draft')`);
  await as('1', 'alice@shop.test', `INSERT INTO orders VALUES (2, 'draft')`);
  await as('3', 'Carol@Shop.test', `UPDATE orders SET status = 'paid' WHERE id = 1`);
  await as('carlos-7', undefined, `INSERT INTO notes VALUES (1, 'x')`);
  await app.query(`INSERT INTO orders VALUES (3, 'draft')`);
});

afterAll(async () => {
  await app?.end();
  expect(errors).toEqual([]);
});

describe('api/actors?q=', () => {
  it('suggests actors whose id or latest label contains the text, in any case, the latest active first', async () => {
    expect(await suggest('car')).toEqual([
      ['carlos-7', null],
      ['3', 'Carol@Shop.test'],
    ]);
    expect(await suggest('SHOP.TEST')).toEqual([
      ['3', 'Carol@Shop.test'],
      ['1', 'alice@shop.test'],
    ]);
    expect(await suggest('1')).toEqual([['1', 'alice@shop.test']]);
    expect(await suggest('')).toEqual([
      ['carlos-7', null],
      ['3', 'Carol@Shop.test'],
      ['1', 'alice@shop.test'],
    ]);
  });

  it('suggests only what the scope shows, and takes hostile text as text', async () => {
    expect(await suggest('car', { tables: ['public.orders'] })).toEqual([['3', 'Carol@Shop.test']]);
    expect(await suggest('', { actor: '1' })).toEqual([['1', 'alice@shop.test']]);
    expect(await suggest("%' OR 1=1 --")).toEqual([]);
    expect(await suggest('%')).toEqual([]);
    const response = await call({ q: 'x'.repeat(201) });
    expect(response.status).toBe(400);
    expect((response.body as AdminErrorBody).error.parameter).toBe('q');
  });
});
