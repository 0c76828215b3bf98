import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createAuditrum, withAuditContext } from '@auditrum/core';
import type {
  ActorResponse,
  AdminErrorBody,
  AdminHandler,
  AdminOptions,
  AdminResponse,
  Change,
  ChangeResponse,
  ChangesResponse,
  HistoryResponse,
  RequestResponse,
  RequestsResponse,
  TablesResponse,
} from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchPage } from '../src/admin/bounded-search.js';
import { parseChangeCriteria } from '../src/admin/change-filters.js';
import { QueryParams } from '../src/admin/query-params.js';
import { loadTables } from '../src/admin/tables.js';

const db = useTestDatabase();
let pool: pg.Pool;
let assetsDir: string;
let admin: AdminHandler<{ user: string }>;

async function call(
  path: string,
  query: Record<string, string> | string = {},
  handler: AdminHandler<{ user: string }> = admin,
  method = 'GET',
): Promise<AdminResponse & { text: string }> {
  const response = await handler({
    method,
    path,
    query: new URLSearchParams(query),
    headers: {},
    basePath: '/audit-admin',
    raw: { user: 'staff' },
  });
  let text = '';
  if (typeof response.body === 'string') text = response.body;
  else if (Buffer.isBuffer(response.body)) text = response.body.toString('utf8');
  else for await (const chunk of response.body) text += chunk.toString();
  return { ...response, text };
}

async function json<T>(path: string, query: Record<string, string> | string = {}, handler = admin): Promise<T> {
  const response = await call(path, query, handler);
  if (response.status !== 200) throw new Error(`${path} ${JSON.stringify(query)}: ${response.status} ${response.text}`);
  return JSON.parse(response.text) as T;
}

async function error(path: string, query: Record<string, string> | string = {}, handler = admin) {
  const response = await call(path, query, handler);
  return { status: response.status, body: JSON.parse(response.text) as AdminErrorBody };
}

async function allIds(where = 'true', params: unknown[] = []): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    `SELECT c.id::text AS id FROM auditrum.changes c WHERE ${where} ORDER BY c.id DESC`,
    params,
  );
  return rows.map((row) => row.id);
}

const ids = (page: { items: { id: string }[] }) => page.items.map((item) => item.id);
const SCRIPT = '<script>alert(1)</script>';

beforeAll(async () => {
  pool = db.openPool({ max: 4, application_name: 'admin-test' });
  const audit = createAuditrum({ pool, partitions: false });
  await pool.query(`CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL, total numeric(10,2), note text)`);
  await pool.query(`CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text)`);
  await pool.query(`CREATE TABLE events (id int PRIMARY KEY, kind text NOT NULL)`);
  await audit.track('orders');
  await audit.track('customers');
  await audit.track('events');

  const alice = { id: 'u-alice', label: 'alice@example.com' };
  const bob = { id: 'u-bob', label: 'bob' };
  await withAuditContext({ actor: alice, source: 'http', requestId: 'req-a1', method: 'POST' }, async () => {
    await pool.query(`INSERT INTO orders VALUES (1, 'draft', 10.00, $1)`, [SCRIPT]);
    await pool.query(`INSERT INTO customers VALUES (1, 'Ann', 'ann@example.com')`);
  });
  await withAuditContext({ actor: bob, source: 'http', requestId: 'req-b1', reason: 'refund #981' }, () =>
    pool.query(`UPDATE orders SET status = 'paid', total = 12.50 WHERE id = 1`),
  );
  await withAuditContext({ source: 'job', requestId: 'job-7', reason: '=SUM(A1)' }, () =>
    pool.query(`INSERT INTO orders VALUES (2, 'draft', 5, '=HYPERLINK("http://evil")')`),
  );
  await pool.query(`UPDATE orders SET status = 'void' WHERE id = 2`); // a direct write: no app context
  await withAuditContext({ actor: alice, source: 'http', requestId: 'req-a2' }, () =>
    pool.query('DELETE FROM orders WHERE id = 2'),
  );
  // Many rows for pagination, in one statement of one request.
  await withAuditContext({ actor: bob, source: 'cli', requestId: 'req-bulk' }, () =>
    pool.query(`INSERT INTO events SELECT g, 'kind-' || g FROM generate_series(1, 123) g`),
  );

  await pool.query(
    `INSERT INTO auditrum.api_requests (requested_at, request_id, method, path, route, query, status, duration_ms,
       aborted, actor_id, actor_label, ip, user_agent, request_headers, response_headers, request_body, response_body, error)
     VALUES
     (now() - interval '5 minutes', 'req-a1', 'POST', '/orders', '/orders', NULL, 201, 12.5, false, 'u-alice',
       'alice@example.com', '10.0.0.1', 'curl/8', '{"authorization":"[masked]"}', '{"content-type":"application/json"}',
       '{"status":"draft","password":"[masked]"}', '{"id":1}', NULL),
     (now() - interval '4 minutes', 'req-b1', 'PATCH', '/orders/1', '/orders/:id', '{"expand":"all"}', 200, 8, false,
       'u-bob', 'bob', '10.0.0.2', 'Mozilla', '{}', '{}', '{"$auditrum":"truncated","bytes":90000,"preview":"{\\"a\\""}',
       '{"$auditrum":"binary","contentType":"image/png","bytes":42}', NULL),
     (now() - interval '3 minutes', 'req-x', 'GET', '/health', '/health', NULL, 500, 1, false, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, 'boom'),
     (now() - interval '2 minutes', 'req-aborted', 'POST', '/orders', '/orders', NULL, NULL, 30000, true, 'u-alice',
       'alice@example.com', NULL, NULL, NULL, NULL, '{"$auditrum":"stream"}', NULL, NULL)`,
  );

  assetsDir = await mkdtemp(join(tmpdir(), 'auditrum-admin-ui-'));
  await mkdir(join(assetsDir, 'assets'));
  await writeFile(
    join(assetsDir, 'index.html'),
    '<!doctype html><html><head><meta charset="utf-8"><base href="/wrong/"><title>x</title></head><body><div id="root"></div><script type="module" src="./assets/app.js"></script></body></html>',
  );
  await writeFile(join(assetsDir, 'assets', 'app.js'), 'console.log("app")');
  await writeFile(join(assetsDir, 'assets', 'app.css'), 'body{}');
  await writeFile(join(assetsDir, 'secret.txt'), 'TOP-SECRET');
  admin = createAdminRoutes({ pool, authorize: (req) => req.user === 'staff', assetsDir });
});

afterAll(async () => {
  await pool?.end();
  if (assetsDir) await rm(assetsDir, { recursive: true, force: true });
});

describe('options', () => {
  it('refuses to mount without authorize, with a message saying what to pass', () => {
    expect(() => createAdminRoutes({ pool } as unknown as AdminOptions)).toThrow(
      /`authorize` is missing.*authorize: \(req\)/,
    );
    expect(() => createAdminRoutes({ pool, authorize: true } as unknown as AdminOptions)).toThrow(
      /`authorize` is not a function/,
    );
    expect(() => createAdminRoutes(undefined as unknown as AdminOptions)).toThrow(/options are required/);
  });

  it('refuses a missing pool, a bad scope, a bad schema name', () => {
    const authorize = () => true;
    expect(() => createAdminRoutes({ authorize } as unknown as AdminOptions)).toThrow(/`pool` must be a pg Pool/);
    expect(() => createAdminRoutes({ pool, authorize, scope: {} } as unknown as AdminOptions)).toThrow(/`scope`/);
    expect(() => createAdminRoutes({ pool, authorize, schema: '' })).toThrow(/schema name/);
    expect(() => createAdminRoutes({ pool, authorize, assetsDir: '' })).toThrow(/assetsDir/);
  });
});

describe('authorization before any data or asset', () => {
  it('answers 403 / 401 / 500 without touching the database or the files', async () => {
    const counting = db.openPool({ max: 1 });
    let acquired = 0;
    counting.on('acquire', () => {
      acquired += 1;
    });
    const errors: unknown[] = [];
    const make = (decision: () => unknown) =>
      createAdminRoutes<{ user: string }>({
        pool: counting,
        assetsDir,
        authorize: decision as () => boolean,
        onError: (e) => errors.push(e),
      });
    try {
      const denied = make(() => false);
      const async401 = make(async () => 'unauthenticated');
      const truthy = make(() => ({ id: 1 }));
      const throwing = make(() => {
        throw new Error('session store down');
      });
      for (const path of ['/api/changes', '/api/tables', '/', '/assets/app.js', '/changes/1', '/api/nope']) {
        const forbidden = await call(path, {}, denied);
        expect([forbidden.status, JSON.parse(forbidden.text)]).toEqual([
          403,
          { error: { code: 'forbidden', message: 'you may not see the audit log' } },
        ]);
        expect(forbidden.text).not.toContain('console.log');
        const unauthenticated = await call(path, {}, async401);
        expect([unauthenticated.status, JSON.parse(unauthenticated.text).error.code]).toEqual([401, 'unauthorized']);
        expect((await call(path, {}, truthy)).status).toBe(403);
        const failed = await call(path, {}, throwing);
        expect([failed.status, JSON.parse(failed.text)]).toEqual([
          500,
          { error: { code: 'internal', message: 'internal error' } },
        ]);
      }
      expect(acquired).toBe(0);
      expect(errors).toHaveLength(6);
      // The same route table lets an allowed request through to the database.
      const allowed = make(() => true);
      expect((await call('/api/tables', {}, allowed)).status).toBe(200);
      expect(acquired).toBeGreaterThan(0);
    } finally {
      await counting.end();
    }
  });

  it('is read-only: other methods get 405 with Allow', async () => {
    const response = await call('/api/changes', {}, admin, 'POST');
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('GET, HEAD');
    expect(JSON.parse(response.text).error.code).toBe('method_not_allowed');
  });
});

describe('api/tables and api/changes', () => {
  it('lists the tracked tables', async () => {
    const { tables } = await json<TablesResponse>('api/tables');
    expect(tables.map((t) => `${t.schema}.${t.table}`)).toEqual(['public.customers', 'public.events', 'public.orders']);
    expect(tables.every((t) => Number.isInteger(t.id))).toBe(true);
  });

  it('returns changes newest first with every field', async () => {
    const page = await json<ChangesResponse>('api/changes', { table: 'public.orders' });
    expect(page.items.map((c) => [c.operation, c.rowKey, c.actor?.id ?? null, c.source])).toEqual([
      ['DELETE', '2', 'u-alice', 'http'],
      ['UPDATE', '2', null, 'db'],
      ['INSERT', '2', null, 'job'],
      ['UPDATE', '1', 'u-bob', 'http'],
      ['INSERT', '1', 'u-alice', 'http'],
    ]);
    expect(page.nextCursor).toBeNull();
    const update = page.items[3] as Change;
    expect(update).toEqual({
      id: expect.stringMatching(/^\d+$/),
      changedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
      txid: expect.stringMatching(/^\d+$/),
      schema: 'public',
      table: 'orders',
      operation: 'UPDATE',
      rowKey: '1',
      oldValues: { status: 'draft', total: 10.0 },
      newValues: { status: 'paid', total: 12.5 },
      changedColumns: ['total', 'status'],
      actor: { id: 'u-bob', label: 'bob' },
      requestId: 'req-b1',
      reason: 'refund #981',
      source: 'http',
      context: { actor_label: 'bob', reason: 'refund #981', source: 'http' },
      claimed: null,
      oversized: null,
      erased: null,
    });
    // The direct write keeps the database's own context.
    expect(page.items[1]?.context).toMatchObject({ source: 'db', application_name: 'admin-test' });
    expect(page.items[1]?.actor).toBeNull();
  });

  it('keeps a script tag as data', async () => {
    const page = await json<ChangesResponse>('api/changes', { table: 'public.orders', key: '1', operation: 'INSERT' });
    expect(page.items[0]?.newValues?.note).toBe(SCRIPT);
  });

  it('filters by each parameter, alone and combined', async () => {
    const orders = 'table_id = (SELECT id FROM auditrum.tracked_tables WHERE table_name = $1)';
    expect(ids(await json('api/changes', { table: 'public.orders' }))).toEqual(await allIds(orders, ['orders']));
    expect(ids(await json('api/changes', { operation: 'delete' }))).toEqual(await allIds(`operation = 'DELETE'`));
    expect(ids(await json('api/changes', { actor: 'u-alice' }))).toEqual(await allIds(`actor_id = 'u-alice'`));
    expect(ids(await json('api/changes', { request: 'req-b1' }))).toEqual(await allIds(`request_id = 'req-b1'`));
    expect(ids(await json('api/changes', { key: '2', table: 'public.orders' }))).toEqual(
      await allIds(`${orders} AND row_key = '2'`, ['orders']),
    );
    // A key alone matches that key in every table.
    expect(ids(await json('api/changes', { key: '1' }))).toEqual(await allIds(`row_key = '1'`));
    expect(ids(await json('api/changes', { source: 'job' }))).toEqual(await allIds(`context->>'source' = 'job'`));
    const direct = await json<ChangesResponse>('api/changes', { source: 'db' });
    expect(direct.items.map((c) => [c.operation, c.rowKey])).toEqual([['UPDATE', '2']]);
    expect(ids(await json('api/changes', { source: 'cli', limit: '200' }))).toHaveLength(123);
    const search = await json<ChangesResponse>('api/changes', { q: 'PAID' });
    expect(search.items.map((c) => c.newValues?.status)).toEqual(['paid']);
    // Keys are not values: "status" is a column name, not a value of any change.
    expect((await json<ChangesResponse>('api/changes', { q: 'status' })).items).toEqual([]);
    // LIKE wildcards are literal.
    expect((await json<ChangesResponse>('api/changes', { q: '%' })).items).toEqual([]);
    expect(
      (await json<ChangesResponse>('api/changes', { actor: 'u-alice', table: 'public.orders', operation: 'INSERT' }))
        .items,
    ).toHaveLength(1);
  });

  it('filters by time, from inclusive and to exclusive, in any time zone', async () => {
    const { rows } = await pool.query<{ id: string; at: string }>(
      `SELECT id::text, to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at
       FROM auditrum.changes WHERE request_id = 'req-b1'`,
    );
    const { id, at } = rows[0] as { id: string; at: string };
    const micros = Number(at.slice(20, 26));
    const nextMicrosecond = `${at.slice(0, 20)}${String(Math.min(micros + 1, 999999)).padStart(6, '0')}Z`;
    expect(ids(await json('api/changes', { from: at, to: nextMicrosecond }))).toEqual([id]);
    expect(ids(await json('api/changes', { to: at }))).toEqual(await allIds(`changed_at < $1`, [at]));
    expect(ids(await json('api/changes', { from: at, limit: '200' }))).toEqual(await allIds(`changed_at >= $1`, [at]));
    const plusOne = new Date(Date.parse(at) + 3_600_000)
      .toISOString()
      .replace(/Z$/, '+01:00')
      .replace(/T(\d\d)/, (_, h) => `T${h}`);
    expect(ids(await json('api/changes', { from: plusOne, limit: '200' }))).toEqual(
      await allIds(`changed_at >= $1`, [plusOne]),
    );
    expect((await json<ChangesResponse>('api/changes', { from: '2999-01-01' })).items).toEqual([]);
    expect((await json<ChangesResponse>('api/changes', { to: '2000-01-01' })).items).toEqual([]);
  });

  it('pages with a cursor: no duplicates, no gaps, across the whole log and within a filter', async () => {
    for (const filter of [{}, { table: 'public.events' }, { actor: 'u-bob' }]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: ChangesResponse = await json('api/changes', {
          ...filter,
          limit: '7',
          ...(cursor ? { cursor } : {}),
        });
        expect(page.items.length).toBeLessThanOrEqual(7);
        seen.push(...ids(page));
        cursor = page.nextCursor;
        pages += 1;
      } while (cursor !== null);
      const expected = (await json<ChangesResponse>('api/changes', { ...filter, limit: '200' })).items.map((c) => c.id);
      expect(seen).toEqual(expected);
      expect(new Set(seen).size).toBe(seen.length);
      expect(pages).toBe(Math.ceil(expected.length / 7));
    }
  });

  it('shows one change with its API call', async () => {
    const [update] = (await json<ChangesResponse>('api/changes', { request: 'req-b1' })).items;
    const detail = await json<ChangeResponse>(`api/changes/${update?.id}`);
    expect(detail.change).toEqual(update);
    expect(detail.request).toMatchObject({
      requestId: 'req-b1',
      method: 'PATCH',
      path: '/orders/1',
      route: '/orders/:id',
      status: 200,
      durationMs: 8,
      aborted: false,
      actor: { id: 'u-bob', label: 'bob' },
      ip: '10.0.0.2',
    });
    const [job] = (await json<ChangesResponse>('api/changes', { request: 'job-7' })).items;
    expect((await json<ChangeResponse>(`api/changes/${job?.id}`)).request).toBeNull();
    expect(await error('api/changes/999999999')).toEqual({
      status: 404,
      body: { error: { code: 'not_found', message: 'change 999999999 not found' } },
    });
  });
});

describe('bad parameters get 400 naming the parameter', () => {
  const cases: [string, Record<string, string> | string, string][] = [
    ['api/changes', { limit: '0' }, 'limit'],
    ['api/changes', { limit: '10000' }, 'limit'],
    ['api/changes', { limit: 'abc' }, 'limit'],
    ['api/changes', { limit: '-1' }, 'limit'],
    ['api/changes', { limit: '1.5' }, 'limit'],
    ['api/changes', 'limit=1&limit=2', 'limit'],
    ['api/changes', { from: 'yesterday' }, 'from'],
    ['api/changes', { from: '2026-02-30' }, 'from'],
    ['api/changes', { from: '2026-13-01' }, 'from'],
    ['api/changes', { to: '2026-01-01T10:00:00' }, 'to'],
    ['api/changes', { to: '2026-01-01T25:00:00Z' }, 'to'],
    ['api/changes', { from: '2026-02-01', to: '2026-01-01' }, 'to'],
    ['api/changes', { table: 'public.nope' }, 'table'],
    ['api/changes', { table: 'orders' }, 'table'],
    ['api/changes', { cursor: 'not-a-cursor!' }, 'cursor'],
    ['api/changes', { cursor: 'AAAA' }, 'cursor'],
    ['api/changes', { cursor: Buffer.from('r:5').toString('base64url') }, 'cursor'],
    ['api/changes', { cursor: Buffer.from('c:99999999999999999999').toString('base64url') }, 'cursor'],
    ['api/changes', { operation: 'MERGE' }, 'operation'],
    ['api/changes', { source: 'no spaces' }, 'source'],
    ['api/changes', { actor: 'a\u0000b' }, 'actor'],
    ['api/changes', { q: 'x'.repeat(201) }, 'q'],
    ['api/changes', { erasure: 'abc' }, 'erasure'],
    ['api/changes', { erasure: '-1' }, 'erasure'],
    ['api/changes', { erasure: '99999999999999999999' }, 'erasure'],
    ['api/changes', { txid: 'abc' }, 'txid'],
    ['api/changes', { txid: '12@' }, 'txid'],
    ['api/changes', { txid: '12@0' }, 'txid'],
    ['api/changes', { txid: '12@x' }, 'txid'],
    ['api/changes', { txid: '99999999999999999999' }, 'txid'],
    ['api/changes/export', {}, 'format'],
    ['api/changes/export', { format: 'xlsx' }, 'format'],
    ['api/changes/abc', {}, 'id'],
    ['api/changes/99999999999999999999', {}, 'id'],
    ['api/history', { key: '1' }, 'table'],
    ['api/history', { table: 'public.orders' }, 'key'],
    ['api/history', { table: 'public.orders', key: '1', at: 'now' }, 'at'],
    ['api/history', { table: 'public.orders', key: '1', cursor: Buffer.from('c:5').toString('base64url') }, 'cursor'],
    ['api/history', { table: 'public.orders', key: '1', through: '5x' }, 'through'],
    ['api/history', { table: 'public.orders', key: '1', through: '99999999999999999999' }, 'through'],
    [
      'api/history',
      { table: 'public.orders', key: '1', through: '5', cursor: Buffer.from('h:5').toString('base64url') },
      'through',
    ],
    ['api/history', { table: 'public.orders', key: '1', limit: '0' }, 'limit'],
    ['api/requests', { status: '99' }, 'status'],
    ['api/requests', { status: 'ok' }, 'status'],
    ['api/requests', { method: 'GET /' }, 'method'],
    ['api/requests', { cursor: Buffer.from('c:5').toString('base64url') }, 'cursor'],
    ['api/requests', { limit: '201' }, 'limit'],
    ['api/requests', { from: '2026-01-01T00:00Z+' }, 'from'],
    ['api/requests', { erasure: 'x' }, 'erasure'],
    ['api/requests/a%00b', {}, 'requestId'],
    [`api/requests/${'r'.repeat(1001)}`, {}, 'requestId'],
    ['api/actors/a%00b', {}, 'actorId'],
  ];
  it.each(cases)('%s %o → 400 %s', async (path, query, parameter) => {
    const { status, body } = await error(path, query);
    expect(status).toBe(400);
    expect(body.error.code).toBe('bad_parameter');
    expect(body.error.parameter).toBe(parameter);
    expect(body.error.message.startsWith(`${parameter}: `)).toBe(true);
  });

  it('answers unknown API routes with 404', async () => {
    for (const path of ['api/nope', 'api/changes/1/more', 'api', 'api/actors/u-1/more']) {
      expect((await error(path)).body.error.code).toBe('not_found');
    }
  });
});

describe('api/history', () => {
  it("derives each version's full state and the state at a time", async () => {
    const history = await json<HistoryResponse>('api/history', { table: 'public.orders', key: '2' });
    expect(history.versions.map((v) => [v.change.operation, v.state, v.complete])).toEqual([
      ['INSERT', { id: 2, status: 'draft', total: 5, note: '=HYPERLINK("http://evil")' }, true],
      ['UPDATE', { id: 2, status: 'void', total: 5, note: '=HYPERLINK("http://evil")' }, true],
      ['DELETE', null, true],
    ]);
    expect(history.stateAt).toBeNull();
    const [insert, update] = history.versions;
    const at = (
      await json<HistoryResponse>('api/history', {
        table: 'public.orders',
        key: '2',
        at: insert?.change.changedAt ?? '',
      })
    ).stateAt;
    expect(at).toEqual(insert?.state);
    const later = await json<HistoryResponse>('api/history', {
      table: 'public.orders',
      key: '2',
      at: update?.change.changedAt ?? '',
    });
    expect(later.stateAt).toMatchObject({ status: 'void' });
    expect(
      (await json<HistoryResponse>('api/history', { table: 'public.orders', key: '2', at: '2000-01-01' })).stateAt,
    ).toBeNull();
  });

  it('marks a history that starts after the row existed as incomplete, and ends the row on TRUNCATE', async () => {
    await pool.query(`CREATE TABLE notes (id int PRIMARY KEY, body text, pinned boolean)`);
    await pool.query(`INSERT INTO notes VALUES (1, 'before tracking', false)`);
    await createAuditrum({ pool, partitions: false }).track('notes');
    await pool.query(`UPDATE notes SET body = 'tracked' WHERE id = 1`);
    await pool.query(`UPDATE notes SET pinned = true WHERE id = 1`);
    await pool.query('TRUNCATE notes');
    await pool.query(`INSERT INTO notes VALUES (1, 'again', false)`);
    const history = await json<HistoryResponse>('api/history', { table: 'public.notes', key: '1' });
    expect(history.versions.map((v) => [v.change.operation, v.state, v.complete])).toEqual([
      ['UPDATE', { body: 'tracked' }, false],
      ['UPDATE', { body: 'tracked', pinned: true }, false],
      ['TRUNCATE', null, true],
      ['INSERT', { id: 1, body: 'again', pinned: false }, true],
    ]);
    // A key that never existed has no versions (the table's TRUNCATE does not concern it).
    expect((await json<HistoryResponse>('api/history', { table: 'public.notes', key: '2' })).versions).toEqual([]);
  });
});

describe('api/history pages', () => {
  let changeIds: string[];

  beforeAll(async () => {
    await pool.query('CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)');
    await createAuditrum({ pool, partitions: false }).track('counters');
    await pool.query('INSERT INTO counters VALUES (1, 0), (2, 0)');
    // 2,500 versions of row 1 (more than one batch of the fold), row 2 changed in between.
    await pool.query(`DO $$ BEGIN FOR i IN 1..2499 LOOP
      UPDATE counters SET n = i WHERE id = 1;
      IF i % 500 = 0 THEN UPDATE counters SET n = -i WHERE id = 2; END IF;
    END LOOP; END $$`);
    const { rows } = await pool.query<{ id: string }>(
      `SELECT c.id::text AS id FROM auditrum.changes c JOIN auditrum.tracked_tables t ON t.id = c.table_id
       WHERE t.table_name = 'counters' AND c.row_key = '1' ORDER BY c.id`,
    );
    changeIds = rows.map((row) => row.id);
  });

  it('pages a long history newest first, each version numbered and with its full state', async () => {
    const query = { table: 'public.counters', key: '1', limit: '200' };
    const newest = await json<HistoryResponse>('api/history', query);
    expect(newest.versions).toHaveLength(200);
    expect(newest.firstNumber).toBe(2301);
    expect(newest.versions.map((v) => v.state)).toEqual(
      Array.from({ length: 200 }, (_, i) => ({ id: 1, n: 2300 + i })),
    );
    const seen = [...newest.versions];
    let page = newest;
    let pages = 1;
    while (page.nextCursor) {
      page = await json<HistoryResponse>('api/history', { ...query, cursor: page.nextCursor });
      expect(page.firstNumber).toBe(2500 - 200 * pages - page.versions.length + 1);
      seen.unshift(...page.versions);
      pages += 1;
    }
    expect(pages).toBe(13);
    expect(page.firstNumber).toBe(1);
    expect(seen.map((v) => v.change.id)).toEqual(changeIds);
    expect(seen[0]).toMatchObject({ state: { id: 1, n: 0 }, complete: true });
    expect(seen.map((v) => v.change.operation)).toEqual(['INSERT', ...Array(2499).fill('UPDATE')]);
  });

  it('gives the version of one change with `through`, and the state at a time on any page', async () => {
    const middle = changeIds[1234] as string;
    const one = await json<HistoryResponse>('api/history', {
      table: 'public.counters',
      key: '1',
      through: middle,
      limit: '1',
    });
    expect(one.versions.map((v) => [v.change.id, v.state])).toEqual([[middle, { id: 1, n: 1234 }]]);
    expect(one.firstNumber).toBe(1235);
    expect(one.nextCursor).not.toBeNull();
    const beforeLast = await pool.query<{ t: string }>('SELECT clock_timestamp()::text AS t');
    await pool.query('UPDATE counters SET n = 9999 WHERE id = 1');
    const at = await json<HistoryResponse>('api/history', {
      table: 'public.counters',
      key: '1',
      limit: '1',
      at: new Date(beforeLast.rows[0]?.t ?? '').toISOString(),
      through: changeIds[0] as string,
    });
    expect(at.versions.map((v) => v.state)).toEqual([{ id: 1, n: 0 }]);
    expect(at.stateAt).toEqual({ id: 1, n: 2499 });
  });
});

describe('api/changes/export', () => {
  it('streams NDJSON equal to the list, and CSV with quoting and defused formulas', async () => {
    const listed = (await json<ChangesResponse>('api/changes', { table: 'public.orders', limit: '200' })).items;
    const ndjson = await call('api/changes/export', { table: 'public.orders', format: 'ndjson' });
    expect(ndjson.status).toBe(200);
    expect(ndjson.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    expect(ndjson.headers['content-disposition']).toMatch(/^attachment; filename="auditrum-changes-[\dTZ-]+\.ndjson"$/);
    expect(typeof ndjson.body).not.toBe('string');
    expect(
      ndjson.text
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual(listed);

    const csv = await call('api/changes/export', { table: 'public.orders', format: 'csv', operation: 'INSERT' });
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    const lines = csv.text.split('\r\n');
    expect(lines[0]).toBe(
      'id,changed_at,txid,schema,table,operation,row_key,key_erasure,actor_id,actor_label,actor_erasure,request_id,source,reason,changed_columns,old_values,new_values,context',
    );
    expect(lines).toHaveLength(4); // header, 2 rows, the final empty string
    const inserts = listed.filter((c) => c.operation === 'INSERT');
    const quoted = (value: unknown) => `"${JSON.stringify(value).replaceAll('"', '""')}"`;
    const [job, first] = inserts as [Change, Change];
    expect(lines[1]).toBe(
      `${job.id},${job.changedAt},${job.txid},public,orders,INSERT,2,,,,,job-7,job,"'=SUM(A1)",,,${quoted(job.newValues)},${quoted(job.context)}`,
    );
    expect(lines[2]).toBe(
      `${first.id},${first.changedAt},${first.txid},public,orders,INSERT,1,,u-alice,alice@example.com,,req-a1,http,,,,${quoted(first.newValues)},${quoted(first.context)}`,
    );
    expect(lines[2]).toContain(SCRIPT);
  });

  it('exports more rows than one batch, with the filter, in order', async () => {
    await withAuditContext({ actor: { id: 'u-carol' }, source: 'http', requestId: 'req-many' }, () =>
      pool.query(`UPDATE events SET kind = kind || '!' WHERE id <= 123`),
    );
    await pool.query(`INSERT INTO events SELECT g, 'x' FROM generate_series(1000, 3499) g`);
    const exported = await call('api/changes/export', { table: 'public.events', format: 'ndjson' });
    const lines = exported.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Change);
    expect(lines.map((c) => c.id)).toEqual(
      await allIds(`table_id = (SELECT id FROM auditrum.tracked_tables WHERE table_name = 'events')`),
    );
    expect(lines).toHaveLength(123 + 123 + 2500);
  });
});

describe('export and composite keys', () => {
  it('stops reading the log when the consumer stops', async () => {
    const counting = db.openPool({ max: 1 });
    let acquired = 0;
    counting.on('acquire', () => {
      acquired += 1;
    });
    try {
      const exporting = createAdminRoutes<{ user: string }>({ pool: counting, authorize: () => true });
      expect((await call('api/changes/export', { format: 'ndjson' }, exporting)).status).toBe(200);
      const total = acquired; // the whole export: one query or two per batch of 1,000
      acquired = 0;
      const partial = await exporting({
        method: 'GET',
        path: 'api/changes/export',
        query: new URLSearchParams({ format: 'ndjson' }),
        headers: {},
        basePath: '',
        raw: { user: 'x' },
      });
      const lines = (partial.body as AsyncIterable<string>)[Symbol.asyncIterator]();
      const first = await lines.next();
      expect(first.value).toMatch(/^\{"id":"\d+"/);
      const atFirst = acquired;
      await lines.return?.(undefined);
      await new Promise((resolve) => setTimeout(resolve, 50));
      // Nothing read after the consumer stopped. Before: the tables, the log's months and whether its default
      // partition holds changes, and the first batch (the current month's query, and the probe of the older months
      // for larger ids when the batch is full).
      expect(acquired).toBe(atFirst);
      expect(atFirst).toBeLessThanOrEqual(5);
      expect(total).toBeGreaterThan(atFirst);
    } finally {
      await counting.end();
    }
  });

  it('searches in bounded batches without the trigram index: short pages with a cursor, no gaps, no duplicates', async () => {
    const limits = { batch: 100, first: 200, budget: 300 };
    const tables = await loadTables(pool, '"auditrum"');
    const api = {
      pool,
      schema: 'auditrum',
      schemaSql: '"auditrum"',
      tables,
      tablesById: new Map(tables.map((t) => [t.id, t])),
      scope: undefined,
    };
    const criteria = parseChangeCriteria(new QueryParams(new URLSearchParams({ q: 'kind-1' })), tables, undefined);
    const expected = await allIds(
      `EXISTS (SELECT 1 FROM jsonb_each_text(coalesce(old_values, '{}')) o WHERE o.value ILIKE '%kind-1%'
         UNION ALL SELECT 1 FROM jsonb_each_text(coalesce(new_values, '{}')) n WHERE n.value ILIKE '%kind-1%')`,
    );
    expect(expected.length).toBeGreaterThan(60); // kind-1, kind-10..19, kind-100..123, before and after the update
    const seen: string[] = [];
    const sizes: number[] = [];
    let before: string | undefined;
    for (let page = 0; page < 100; page++) {
      const { rows, resumeAfter, searchedTo } = await searchPage(api, criteria, ['q'], 50, before, limits);
      seen.push(...rows.map((row) => row.id));
      sizes.push(rows.length);
      // A page that stopped short says how far back it searched; a full or last one does not.
      expect(searchedTo !== null).toBe(resumeAfter !== null && rows.length < 50);
      if (resumeAfter === null) break;
      before = resumeAfter;
    }
    expect(seen).toEqual(expected);
    expect(sizes.slice(0, -1).some((size) => size < 50)).toBe(true); // the budget ran out before a page was full
    expect(sizes.every((size) => size <= 50)).toBe(true);
    // The export of a search goes through the same batches, without a budget.
    const exported = await call('api/changes/export', { q: 'kind-1', format: 'ndjson' });
    expect(
      exported.text
        .trimEnd()
        .split('\n')
        .map((line) => (JSON.parse(line) as Change).id),
    ).toEqual(expected);
    const nowhere = parseChangeCriteria(
      new QueryParams(new URLSearchParams({ q: 'found nowhere' })),
      tables,
      undefined,
    );
    // A word found nowhere: the first page stops after `first` rows, empty, saying where it stopped; "search older"
    // pages read `budget` rows each, down to the end of the log, which the last page reaches with no cursor.
    const every = await allIds();
    const { rows: newest } = await pool.query<{ id: string; at: string; total: number }>(
      `SELECT id::text, to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
         $2::int AS total
       FROM auditrum.changes WHERE id = $1::bigint`,
      [every[199], every.length],
    );
    const oldestRead = newest[0] as { id: string; at: string; total: number };
    expect(oldestRead.total).toBeGreaterThan(500);
    expect(await searchPage(api, nowhere, ['q'], 10, undefined, limits)).toEqual({
      rows: [],
      resumeAfter: oldestRead.id,
      searchedTo: oldestRead.at,
    });
    // A first page's budget smaller than a batch: one query of that many rows.
    const { rows: fifty } = await pool.query<{ at: string }>(
      `SELECT to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at FROM auditrum.changes
       WHERE id = $1::bigint`,
      [every[49]],
    );
    expect(await searchPage(api, nowhere, ['q'], 10, undefined, { ...limits, first: 50 })).toEqual({
      rows: [],
      resumeAfter: every[49],
      searchedTo: fifty[0]?.at,
    });
    let older: string | null = oldestRead.id;
    let pages = 1;
    while (older !== null) {
      const page = await searchPage(api, nowhere, ['q'], 10, older, limits);
      expect(page.rows).toEqual([]);
      older = page.resumeAfter;
      pages++;
    }
    expect(pages).toBe(1 + Math.ceil((oldestRead.total - 200 + 1) / 300));
  });

  it('finds a row of a composite-key table by its key as shown', async () => {
    await pool.query('CREATE TABLE pairs (a int, b text, v text, PRIMARY KEY (a, b))');
    await createAuditrum({ pool, partitions: false }).track('pairs');
    await pool.query(`INSERT INTO pairs VALUES (1, 'x', 'one')`);
    await pool.query(`UPDATE pairs SET v = 'two' WHERE a = 1 AND b = 'x'`);
    const [latest] = (await json<ChangesResponse>('api/changes', { table: 'public.pairs' })).items;
    expect(latest?.rowKey).toBe('[1, "x"]');
    const history = await json<HistoryResponse>('api/history', { table: 'public.pairs', key: latest?.rowKey ?? '' });
    expect(history.versions.map((v) => v.state)).toEqual([
      { a: 1, b: 'x', v: 'one' },
      { a: 1, b: 'x', v: 'two' },
    ]);
  });
});

describe('api/requests and api/actors', () => {
  it('lists API calls newest first with their change counts, filtered', async () => {
    const all = await json<RequestsResponse>('api/requests');
    expect(all.items.map((r) => [r.requestId, r.status, r.changeCount])).toEqual([
      ['req-aborted', null, 0],
      ['req-x', 500, 0],
      ['req-b1', 200, 1],
      ['req-a1', 201, 2],
    ]);
    expect(all.items[0]).toMatchObject({
      aborted: true,
      durationMs: 30000,
      actor: { id: 'u-alice' },
      route: '/orders',
    });
    const pick = async (query: Record<string, string>) =>
      (await json<RequestsResponse>('api/requests', query)).items.map((r) => r.requestId);
    expect(await pick({ actor: 'u-alice' })).toEqual(['req-aborted', 'req-a1']);
    expect(await pick({ method: 'patch' })).toEqual(['req-b1']);
    expect(await pick({ status: '5xx' })).toEqual(['req-x']);
    expect(await pick({ status: '201' })).toEqual(['req-a1']);
    expect(await pick({ status: 'aborted' })).toEqual(['req-aborted']);
    expect(await pick({ path: '/orders' })).toEqual(['req-aborted', 'req-b1', 'req-a1']);
    expect(await pick({ path: '/orders/' })).toEqual(['req-b1']);
    expect(await pick({ path: '/ord%' })).toEqual([]);
    expect(await pick({ request: 'req-x' })).toEqual(['req-x']);
    const [newest] = all.items;
    expect(await pick({ from: newest?.requestedAt ?? '' })).toEqual(['req-aborted']);
    expect(await pick({ to: newest?.requestedAt ?? '' })).toEqual(['req-x', 'req-b1', 'req-a1']);
    const first = await json<RequestsResponse>('api/requests', { limit: '3' });
    const second = await json<RequestsResponse>('api/requests', { limit: '3', cursor: first.nextCursor ?? '' });
    expect([...ids(first), ...ids(second)]).toEqual(ids(all));
    expect(second.nextCursor).toBeNull();
  });

  it('shows one call with masked headers, body markers and every change it caused', async () => {
    const a1 = await json<RequestResponse>('api/requests/req-a1');
    expect(a1.request).toMatchObject({
      requestId: 'req-a1',
      userAgent: 'curl/8',
      requestHeaders: { authorization: '[masked]' },
      requestBody: { status: 'draft', password: '[masked]' },
      responseBody: { id: 1 },
      error: null,
      changeCount: 2,
    });
    expect(a1.changes.map((c) => [c.table, c.operation])).toEqual([
      ['orders', 'INSERT'],
      ['customers', 'INSERT'],
    ]);
    expect(a1.changeCount).toBe(2);
    const b1 = await json<RequestResponse>('api/requests/req-b1');
    expect(b1.request?.requestBody).toEqual({ $auditrum: 'truncated', bytes: 90000, preview: '{"a"' });
    expect(b1.request?.responseBody).toEqual({ $auditrum: 'binary', contentType: 'image/png', bytes: 42 });
    expect(b1.request?.query).toEqual({ expand: 'all' });
    // Changes with a request id that was never logged as a call.
    const job = await json<RequestResponse>('api/requests/job-7');
    expect([job.request, job.changes.length, job.changeCount]).toEqual([null, 1, 1]);
    const bulk = await json<RequestResponse>(`api/requests/${encodeURIComponent('req-bulk')}`);
    expect([bulk.changes.length, bulk.changeCount]).toEqual([123, 123]);
    expect((await error('api/requests/nope')).status).toBe(404);
  });

  it('summarises an actor', async () => {
    const alice = await json<ActorResponse>('api/actors/u-alice');
    expect(alice).toEqual({
      actor: { id: 'u-alice', label: 'alice@example.com' },
      changeCount: 3,
      changeCountEstimated: false,
      requestCount: 2,
      requestCountEstimated: false,
      firstSeen: expect.any(String),
      lastSeen: expect.any(String),
    });
    expect(Date.parse(alice.firstSeen ?? '') <= Date.parse(alice.lastSeen ?? '')).toBe(true);
    // Her first and last activity: the earliest and latest of her first and last change (by id) and call.
    const iso = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;
    const { rows } = await pool.query<{ first: string; last: string }>(
      `SELECT least(c.first, r.first) AS first, greatest(c.last, r.last) AS last
       FROM (SELECT (SELECT to_char(changed_at AT TIME ZONE 'UTC', ${iso}) FROM auditrum.changes
                     WHERE actor_id = 'u-alice' ORDER BY id LIMIT 1) AS first,
                    (SELECT to_char(changed_at AT TIME ZONE 'UTC', ${iso}) FROM auditrum.changes
                     WHERE actor_id = 'u-alice' ORDER BY id DESC LIMIT 1) AS last) c,
            (SELECT to_char(min(requested_at) AT TIME ZONE 'UTC', ${iso}) AS first,
                    to_char(max(requested_at) AT TIME ZONE 'UTC', ${iso}) AS last
             FROM auditrum.api_requests WHERE actor_id = 'u-alice') r`,
    );
    expect([alice.firstSeen, alice.lastSeen]).toEqual([rows[0]?.first, rows[0]?.last]);
    expect((await error('api/actors/nobody')).status).toBe(404);
  });
});

describe('scope', () => {
  it('narrows every route to the tables, the actor and the API log the scope allows', async () => {
    const onlyCustomers = createAdminRoutes<{ user: string }>({
      pool,
      assetsDir,
      authorize: () => true,
      scope: () => ({ tables: ['public.customers'], requests: false }),
    });
    const tables = await json<TablesResponse>('api/tables', {}, onlyCustomers);
    expect(tables.tables.map((t) => t.table)).toEqual(['customers']);
    const changes = await json<ChangesResponse>('api/changes', {}, onlyCustomers);
    expect(changes.items.map((c) => c.table)).toEqual(['customers']);
    expect((await error('api/changes', { table: 'public.orders' }, onlyCustomers)).body.error.parameter).toBe('table');
    expect((await json<ChangesResponse>('api/changes', { key: '1' }, onlyCustomers)).items).toHaveLength(1);
    const [order] = (await json<ChangesResponse>('api/changes', { table: 'public.orders' })).items;
    expect((await error(`api/changes/${order?.id}`, {}, onlyCustomers)).status).toBe(404);
    expect((await error('api/history', { table: 'public.orders', key: '1' }, onlyCustomers)).status).toBe(400);
    expect((await error('api/requests', {}, onlyCustomers)).body.error.code).toBe('forbidden');
    expect((await error('api/requests/req-a1', {}, onlyCustomers)).status).toBe(403);
    const export_ = await call('api/changes/export', { format: 'ndjson' }, onlyCustomers);
    expect(
      export_.text
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).table),
    ).toEqual(['customers']);
    const [customer] = changes.items;
    expect((await json<ChangeResponse>(`api/changes/${customer?.id}`, {}, onlyCustomers)).request).toBeNull();
    // The UI is told, so that it does not offer the API log.
    const index = await call('changes', {}, onlyCustomers);
    expect(index.text).toContain('window.__AUDITRUM_ADMIN__ = {"basePath":"/audit-admin","apiLog":false}');

    const onlyBob = createAdminRoutes<{ user: string }>({
      pool,
      authorize: () => true,
      scope: async () => ({ actor: 'u-bob' }),
    });
    const bobs = await json<ChangesResponse>('api/changes', { limit: '200' }, onlyBob);
    expect(new Set(bobs.items.map((c) => c.actor?.id))).toEqual(new Set(['u-bob']));
    expect((await json<ChangesResponse>('api/changes', { actor: 'u-alice' }, onlyBob)).items).toEqual([]);
    expect((await json<RequestsResponse>('api/requests', {}, onlyBob)).items.map((r) => r.requestId)).toEqual([
      'req-b1',
    ]);
    expect((await error('api/requests/req-a1', {}, onlyBob)).status).toBe(404);
    expect((await error('api/actors/u-alice', {}, onlyBob)).status).toBe(404);
    expect((await json<ActorResponse>('api/actors/u-bob', {}, onlyBob)).actor.id).toBe('u-bob');
  });

  it('fails closed when scope() returns something malformed', async () => {
    const errors: unknown[] = [];
    const broken = createAdminRoutes<{ user: string }>({
      pool,
      authorize: () => true,
      scope: () => ({ tables: 'public.orders' }) as never,
      onError: (e) => errors.push(e),
    });
    expect((await error('api/changes', {}, broken)).status).toBe(500);
    expect(String(errors[0])).toMatch(/scope\(\)\.tables must be a list/);
  });
});

describe('the UI: index.html and assets', () => {
  it('serves index.html for the root and deep links, with the base path and config injected', async () => {
    for (const path of ['/', '', 'changes/123', '/requests/req-a1/']) {
      const response = await call(path);
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(response.headers['cache-control']).toBe('no-cache');
      expect(response.text).toContain(
        '<head><base href="/audit-admin/"><script>window.__AUDITRUM_ADMIN__ = {"basePath":"/audit-admin","apiLog":true}</script><meta charset="utf-8">',
      );
      expect(response.text).not.toContain('/wrong/');
      expect(response.headers['content-security-policy']).toMatch(/script-src 'self' 'sha256-[A-Za-z0-9+/=]+'/);
    }
  });

  it('keeps a hostile base path inside its attribute and its script', async () => {
    const hostile = '/x"></base><script>alert(1)</script>\u2028&';
    const response = await admin({
      method: 'GET',
      path: '/',
      query: new URLSearchParams(),
      headers: {},
      basePath: hostile,
      raw: { user: 'staff' },
    });
    const html = String(response.body);
    expect(html.match(/<script/g)).toHaveLength(2); // the config and the app's own
    expect(html).not.toContain('alert(1)</script>');
    const config = /<script>window\.__AUDITRUM_ADMIN__ = (.*?)<\/script>/.exec(html)?.[1] ?? '';
    expect(config).not.toMatch(/[<>&\u2028]/);
    expect(JSON.parse(config)).toEqual({ basePath: hostile, apiLog: true });
    expect(/<base href="([^"]*)">/.exec(html)?.[1]).toBe(
      '/x&#34;&#62;&#60;/base&#62;&#60;script&#62;alert(1)&#60;/script&#62;\u2028&#38;/',
    );
  });

  it('serves assets with content types and long cache, and refuses path traversal', async () => {
    const js = await call('assets/app.js');
    expect([js.status, js.text, js.headers['content-type'], js.headers['cache-control']]).toEqual([
      200,
      'console.log("app")',
      'text/javascript; charset=utf-8',
      'public, max-age=31536000, immutable',
    ]);
    expect((await call('assets/app.css')).headers['content-type']).toBe('text/css; charset=utf-8');
    for (const path of [
      'assets/../secret.txt',
      'assets/%2e%2e/secret.txt',
      'assets/..%2fsecret.txt',
      'assets/..%5csecret.txt',
      'assets/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      'assets//etc/passwd',
      'assets/app.js%00.png',
      'assets/',
      'assets/missing.js',
      'assets/%E0%A4%A',
      `assets/${encodeURIComponent(join(assetsDir, 'secret.txt'))}`,
    ]) {
      const response = await call(path);
      expect([path, response.status]).toEqual([path, 404]);
      expect(response.text).not.toContain('TOP-SECRET');
    }
  });

  it('gzips text assets for clients that take it, once per file', async () => {
    const asset = (acceptEncoding: string) =>
      admin({
        method: 'GET',
        path: 'assets/app.js',
        query: new URLSearchParams(),
        headers: { 'accept-encoding': acceptEncoding },
        basePath: '/audit-admin',
        raw: { user: 'staff' },
      });
    const zipped = await asset('br, gzip;q=0.8, deflate');
    expect([zipped.headers['content-encoding'], zipped.headers.vary]).toEqual(['gzip', 'Accept-Encoding']);
    expect(gunzipSync(zipped.body as Buffer).toString('utf8')).toBe('console.log("app")');
    expect((await asset('gzip')).body).toBe(zipped.body); // the cached buffer
    for (const refused of ['gzip;q=0', 'br', '']) {
      const plain = await asset(refused);
      expect([plain.headers['content-encoding'], String(plain.body)]).toEqual([undefined, 'console.log("app")']);
    }
  });

  it('answers 503 with a hint when the UI is not built, while the API still works', async () => {
    const apiOnly = createAdminRoutes<{ user: string }>({
      pool,
      authorize: () => true,
      assetsDir: join(assetsDir, 'nope'),
    });
    const response = await call('/', {}, apiOnly);
    expect(response.status).toBe(503);
    expect(response.text).toMatch(/admin-ui build/);
    expect((await call('api/tables', {}, apiOnly)).status).toBe(200);
  });
});

describe('migration 3 and the indexes the queries rely on', () => {
  it('finds TRUNCATEs and keys through changes_row_idx, and can use the optional source index of the docs', async () => {
    const planOf = async (sql: string, params: unknown[] = []) => {
      const client = await pool.connect();
      try {
        await client.query('SET enable_seqscan = off');
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params);
        return rows.map((row) => row['QUERY PLAN']).join('\n');
      } finally {
        await client.query('RESET ALL');
        client.release();
      }
    };
    const { rows: tables } = await pool.query<{ id: number }>('SELECT id FROM auditrum.tracked_tables');
    // The conditions the admin writes for operation=TRUNCATE.
    expect(
      await planOf(
        `SELECT id FROM auditrum.changes c WHERE c.operation = 'TRUNCATE' AND c.row_key IS NULL
           AND c.table_id = ANY ($1::int[]) ORDER BY c.id DESC LIMIT 51`,
        [tables.map((t) => t.id)],
      ),
    ).toMatch(/Index (Only )?Scan using changes_\w*table_id_row_key_id_idx on changes_\w+[\s\S]*row_key IS NULL/);
    const truncates = await json<ChangesResponse>('api/changes', { operation: 'TRUNCATE' });
    expect(truncates.items.map((c) => [c.table, c.rowKey])).toEqual([['notes', null]]);

    // The optional index for rare sources, as docs/admin.md gives it, serves the admin's source condition.
    await pool.query(`CREATE INDEX changes_source_idx ON auditrum.changes ((coalesce(context ->> 'source', 'db')), id)
      WHERE coalesce(context ->> 'source', 'db') NOT IN ('http', 'app')`);
    expect(
      await planOf(
        `SELECT id FROM auditrum.changes c WHERE coalesce(c.context ->> 'source', 'db') = $1
           AND coalesce(c.context ->> 'source', 'db') NOT IN ('http', 'app') ORDER BY c.id DESC LIMIT 51`,
        ['migration'],
      ),
    ).toMatch(/Index (Only )?Scan( Backward)? using changes_\w*coalesce\w* on changes_/);
    expect((await json<ChangesResponse>('api/changes', { source: 'job' })).items.map((c) => c.requestId)).toEqual([
      'job-7',
    ]);
    await pool.query('DROP INDEX auditrum.changes_source_idx');
  });

  it('enable_value_search() adds the trigram index that the search expression uses', async () => {
    const indexes = async () =>
      (
        await pool.query<{ indexname: string }>(
          `SELECT indexname FROM pg_indexes WHERE schemaname = 'auditrum' AND tablename = 'changes' ORDER BY 1`,
        )
      ).rows.map((row) => row.indexname);
    // Every match, page after page: without the index a page may stop short (or empty) with a cursor.
    const everyMatch = async () => {
      const found: string[] = [];
      let cursor: string | null = null;
      do {
        const page: ChangesResponse = await json<ChangesResponse>('api/changes', {
          q: 'paid',
          ...(cursor === null ? {} : { cursor }),
        });
        found.push(...ids(page));
        cursor = page.nextCursor;
      } while (cursor !== null);
      return found;
    };
    const before = await everyMatch();
    expect(before.length).toBeGreaterThan(0);
    expect(await pool.query(`SELECT auditrum.enable_value_search() AS name`)).toMatchObject({
      rows: [{ name: 'changes_values_trgm_idx' }],
    });
    await pool.query('SELECT auditrum.enable_value_search()'); // idempotent
    expect(await indexes()).toContain('changes_values_trgm_idx');
    expect(await everyMatch()).toEqual(before);
    // With sequential scans off, the planner must be able to answer the search from the index.
    const client = await pool.connect();
    try {
      await client.query('SET enable_seqscan = off');
      await client.query('SET enable_indexscan = off');
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN SELECT id FROM auditrum.changes c
         WHERE (coalesce(c.old_values::text, '') || coalesce(c.new_values::text, '')) ILIKE '%needle%'`,
      );
      expect(rows.map((row) => row['QUERY PLAN']).join('\n')).toMatch(/Bitmap Index Scan on changes_\w*idx/);
    } finally {
      await client.query('RESET ALL');
      client.release();
    }
  });
});
