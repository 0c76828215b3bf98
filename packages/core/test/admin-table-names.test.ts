import { createAuditrum } from '@auditrum/core';
import type { AdminResponse, ChangesResponse, TablesResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Two tables whose schema and name joined by a dot read the same, "a"."b.c" and "a.b"."c": the API names them apart
// (a part with a dot in quotes), a name that could be either is refused as a parameter, and a scope that names it
// shows neither (a scope is a permission). The application's non-superuser role owns the tables and is the pool.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  await grantLogReads(db, role);
  await db.pool.query(`CREATE SCHEMA a AUTHORIZATION ${role.name}; CREATE SCHEMA "a.b" AUTHORIZATION ${role.name}`);
  await app.query(
    `CREATE TABLE a."b.c" (id int PRIMARY KEY, v text); CREATE TABLE "a.b".c (id int PRIMARY KEY, v text)`,
  );
  await app.query('CREATE TABLE plain (id int PRIMARY KEY, v text)');
  const audit = createAuditrum({ pool: db.pool, partitions: false });
  for (const table of ['a."b.c"', '"a.b".c', 'public.plain']) await audit.track(table);
  await app.query(`INSERT INTO a."b.c" VALUES (1, 'in a'); INSERT INTO "a.b".c VALUES (2, 'in a.b')`);
  await app.query(`INSERT INTO plain VALUES (3, 'plain')`);
});

afterAll(async () => {
  await app.end();
});

function admin(scope?: { tables: string[] }) {
  const routes = createAdminRoutes({ pool: app, authorize: () => true, ...(scope ? { scope: () => scope } : {}) });
  return (path: string, query: Record<string, string> = {}): Promise<AdminResponse> =>
    routes({ method: 'GET', path, query: new URLSearchParams(query), headers: {}, basePath: '', raw: null });
}

async function body<T>(response: Promise<AdminResponse>): Promise<{ status: number; json: T }> {
  const { status, body: text } = await response;
  return { status, json: JSON.parse(String(text)) as T };
}

/** The changes a page lists, as `schema|table|key`. */
async function changes(get: ReturnType<typeof admin>, query: Record<string, string> = {}): Promise<string[]> {
  const { status, json } = await body<ChangesResponse>(get('/api/changes', query));
  expect(status).toBe(200);
  return json.items.map((change) => `${change.schema}|${change.table}|${change.rowKey}`).sort();
}

describe('tables whose names joined by a dot read the same', () => {
  it('are told apart by the quoted form, and the unquoted one is refused as ambiguous', async () => {
    const get = admin();
    expect(await changes(get, { table: 'a."b.c"' })).toEqual(['a|b.c|1']);
    expect(await changes(get, { table: '"a.b".c' })).toEqual(['a.b|c|2']);
    expect(await changes(get, { table: 'public.plain' })).toEqual(['public|plain|3']);
    const refused = await body<{ error: { code: string; parameter: string; message: string } }>(
      get('/api/changes', { table: 'a.b.c' }),
    );
    expect(refused.status).toBe(400);
    expect(refused.json.error).toEqual({
      code: 'bad_parameter',
      parameter: 'table',
      message: 'table: "a.b.c" names more than one table (a."b.c", "a.b".c); quote the part that holds the dot',
    });
    // A row's history by the quoted name.
    const history = await get('/api/history', { table: '"a.b".c', key: '2' });
    expect(history.status).toBe(200);
  });

  it('a scope naming one by its quoted name shows that one only; an ambiguous entry shows neither', async () => {
    const one = admin({ tables: ['a."b.c"', 'public.plain'] });
    expect(await changes(one)).toEqual(['a|b.c|1', 'public|plain|3']);
    const listed = await body<TablesResponse>(one('/api/tables'));
    expect(listed.json.tables.map((t) => `${t.schema}|${t.table}`).sort()).toEqual(['a|b.c', 'public|plain']);
    expect((await one('/api/changes', { table: '"a.b".c' })).status).toBe(400);

    const ambiguous = admin({ tables: ['a.b.c', 'public.plain'] });
    expect(await changes(ambiguous)).toEqual(['public|plain|3']);
    // An unquoted name that only one table has still works, as before.
    expect(await changes(admin({ tables: ['public.plain'] }))).toEqual(['public|plain|3']);
  });
});
