import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { createAuditrum, withAuditContext } from '@auditrum/core';
import type {
  AdminErrorBody,
  AdminHandler,
  AdminOptions,
  DeletedRowsResponse,
  TablesResponse,
  WriteResponse,
} from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, ignoreIdleErrors, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_ROUTES } from '../src/admin/api-routes.js';

/**
 * Writes through the admin (revert, undelete, undo) on a real database, as a non-superuser application role that
 * owns its tables: refused on a read-only admin, refused cross-site before anything runs, narrowed by the scope,
 * every bad field a clear 4xx, and each restore recorded with the admin user as actor, source restore and reason.
 */

interface User {
  user: 'reader' | 'writer' | 'nobody';
}

const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let writable: AdminHandler<User>;
let readOnly: AdminHandler<User>;
const errors: unknown[] = [];
const SAME_ORIGIN = { host: 'admin.test:8080', origin: 'http://admin.test:8080', 'content-type': 'application/json' };
const WRITE_PATHS = API_ROUTES.filter((route) => route.method === 'POST').map((route) => `/api/${route.path}`);

function options(extra: Partial<AdminOptions<User>> = {}): AdminOptions<User> {
  return {
    pool: app,
    authorize: (req) => req.user !== 'nobody',
    authorizeWrite: (req) => req.user === 'writer',
    actor: (req) => ({ id: `admin-${req.user}`, label: `${req.user}@example.com` }),
    onError: (error) => errors.push(error),
    ...extra,
  };
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

async function post(
  path: string,
  body: unknown,
  { handler = writable, user = 'writer', headers = SAME_ORIGIN, method = 'POST' } = {} as {
    handler?: AdminHandler<User>;
    user?: User['user'];
    headers?: Record<string, string>;
    method?: string;
  },
): Promise<Reply> {
  const response = await handler({
    method,
    path,
    query: new URLSearchParams(),
    headers,
    basePath: '/audit-admin',
    body: Readable.from([typeof body === 'string' ? body : JSON.stringify(body)]),
    raw: { user },
  });
  return { status: response.status, headers: response.headers, body: JSON.parse(response.body as string) };
}

async function write(path: string, body: unknown, handler = writable): Promise<WriteResponse> {
  const reply = await post(path, body, { handler });
  if (reply.status !== 200) throw new Error(`${path} ${JSON.stringify(body)}: ${JSON.stringify(reply)}`);
  return reply.body as WriteResponse;
}

async function refusal(path: string, body: unknown, extra: Parameters<typeof post>[2] = {}) {
  const reply = await post(path, body, extra);
  const { error } = reply.body as AdminErrorBody;
  return { status: reply.status, ...error };
}

async function get<T>(path: string, query: Record<string, string>, user: User['user'] = 'writer'): Promise<T> {
  const response = await writable({
    method: 'GET',
    path,
    query: new URLSearchParams(query),
    headers: {},
    basePath: '/audit-admin',
    raw: { user },
  });
  return JSON.parse(response.body as string) as T;
}

/** The whole log, to show a refused write changed nothing. */
async function snapshot(): Promise<unknown[]> {
  const { rows } = await db.pool.query(
    `SELECT (SELECT json_agg(o ORDER BY id) FROM orders o) AS orders,
       (SELECT json_agg(s ORDER BY id) FROM secrets s) AS secrets,
       (SELECT count(*)::int FROM auditrum.changes) AS changes`,
  );
  return rows;
}

async function changeIds(where: string, params: unknown[] = []): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>(
    `SELECT c.id::text AS id FROM auditrum.change_log c WHERE ${where} ORDER BY c.id`,
    params,
  );
  return rows.map((row) => row.id);
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  await grantLogReads(db, role);
  await app.query(
    'CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL, total numeric(10,2), paid_at timestamptz)',
  );
  await app.query('CREATE TABLE secrets (id int PRIMARY KEY, value text)');
  await app.query('CREATE TABLE people (id int PRIMARY KEY, name text, ssn text)');
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  await auditrum.track('public.orders');
  await auditrum.track('public.secrets');
  await auditrum.track('public.people', { mask: ['ssn'] });
  createAuditrum({ pool: app, partitions: false });
  const alice = { id: 'u-alice', label: 'alice@example.com' };
  await withAuditContext({ actor: alice, source: 'http', requestId: 'req-create' }, () =>
    app.query(`INSERT INTO orders SELECT g, 'draft', g * 10, NULL FROM generate_series(1, 6) g`),
  );
  await withAuditContext({ actor: alice, source: 'http', requestId: 'req-pay' }, () =>
    app.query(`UPDATE orders SET status = 'paid', total = 12.50, paid_at = '2026-01-02T03:04:05.123456Z' WHERE id = 1`),
  );
  await withAuditContext({ actor: alice, source: 'http', requestId: 'req-both' }, async () => {
    await app.query(`UPDATE orders SET status = 'sent' WHERE id = 2`);
    await app.query(`INSERT INTO secrets VALUES (1, 'hidden')`);
  });
  await app.query(`INSERT INTO people VALUES (1, 'Ann', '123-45-6789')`);
  await withAuditContext({ actor: alice, source: 'http', requestId: 'req-people' }, () =>
    app.query(`UPDATE people SET name = 'Anne', ssn = '987-65-4321' WHERE id = 1`),
  );
  await withAuditContext({ actor: alice, source: 'http', requestId: 'req-delete' }, () =>
    app.query('DELETE FROM orders WHERE id IN (5, 6)'),
  );
  writable = createAdminRoutes(options());
  readOnly = createAdminRoutes({ pool: app, authorize: () => true, onError: (error) => errors.push(error) });
});

afterAll(async () => {
  await app?.end();
});

describe('a read-only admin', () => {
  it('has no write route: every write is 405, a GET of one 404, and api/tables says canWrite false', async () => {
    expect(WRITE_PATHS).toEqual(['/api/revert', '/api/restore', '/api/undelete', '/api/undo']);
    const before = await snapshot();
    for (const path of WRITE_PATHS) {
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
        const reply = await refusal(path, { change: '1', reason: 'x' }, { handler: readOnly, method });
        expect([path, method, reply.status, reply.code]).toEqual([path, method, 405, 'method_not_allowed']);
        expect(reply.message).toBe(`the admin is read-only (mounted without authorizeWrite): ${method} is not allowed`);
      }
      const reply = await post(path, {}, { handler: readOnly, method: 'GET' });
      expect(reply.status).toBe(404);
    }
    expect(await snapshot()).toEqual(before);
    const tables = await readOnly({
      method: 'GET',
      path: '/api/tables',
      query: new URLSearchParams(),
      headers: {},
      basePath: '',
      raw: { user: 'writer' },
    });
    expect((JSON.parse(tables.body as string) as TablesResponse).canWrite).toBe(false);
  });

  it('on a writable admin, says canWrite per user, and write routes take POST only', async () => {
    expect((await get<TablesResponse>('api/tables', {}, 'writer')).canWrite).toBe(true);
    expect((await get<TablesResponse>('api/tables', {}, 'reader')).canWrite).toBe(false);
    const put = await post('/api/revert', {}, { method: 'PUT' });
    expect([put.status, put.headers.allow]).toEqual([405, 'POST']);
    const onRead = await post('/api/changes', {});
    expect([onRead.status, onRead.headers.allow]).toEqual([405, 'GET, HEAD']);
  });
});

describe('the guards before a write', () => {
  it('refuse a cross-site request before authorizeWrite, the body or the database', async () => {
    const counting = ignoreIdleErrors(new pg.Pool({ connectionString: role.url, max: 1 }));
    let acquired = 0;
    counting.on('acquire', () => {
      acquired += 1;
    });
    let asked = 0;
    const guarded = createAdminRoutes<User>(
      options({
        pool: counting,
        authorizeWrite: () => {
          asked += 1;
          return true;
        },
      }),
    );
    try {
      const body = { change: '1', reason: 'forged' };
      for (const headers of [
        { ...SAME_ORIGIN, origin: 'https://evil.example' },
        { ...SAME_ORIGIN, origin: 'null' },
        { ...SAME_ORIGIN, 'sec-fetch-site': 'cross-site' },
        { ...SAME_ORIGIN, 'sec-fetch-site': 'same-site' },
        { host: 'admin.test:8080', 'content-type': 'application/json' },
      ]) {
        const reply = await refusal('/api/revert', body, { handler: guarded, headers });
        expect([headers, reply.status, reply.code]).toEqual([headers, 403, 'cross_site']);
      }
      // A plain HTML form can post to any site; it cannot send JSON.
      for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=b', 'text/plain']) {
        const headers = { ...SAME_ORIGIN, 'content-type': type };
        const reply = await refusal('/api/revert', 'change=1&reason=forged', { handler: guarded, headers });
        expect([type, reply.status, reply.code]).toEqual([type, 415, 'unsupported_media_type']);
      }
      expect(acquired).toBe(0);
      expect(asked).toBe(0);
    } finally {
      await counting.end();
    }
  });

  it('ask authorizeWrite after authorize, and the actor after that', async () => {
    const before = await snapshot();
    const body = { change: '1', reason: 'not allowed' };
    expect(await refusal('/api/revert', body, { user: 'reader' })).toMatchObject({
      status: 403,
      code: 'forbidden',
      message: 'you may not change data through the audit admin',
    });
    expect((await refusal('/api/revert', body, { user: 'nobody' })).message).toBe('you may not see the audit log');
    const login = createAdminRoutes<User>(options({ authorizeWrite: async () => 'unauthenticated' as const }));
    expect(await refusal('/api/revert', body, { handler: login })).toMatchObject({
      status: 401,
      code: 'unauthorized',
      message: 'log in to change data through the audit admin',
    });
    const truthy = createAdminRoutes<User>(options({ authorizeWrite: () => ({ id: 1 }) as unknown as boolean }));
    expect((await refusal('/api/revert', body, { handler: truthy })).status).toBe(403);
    const noActor = createAdminRoutes<User>(options({ actor: () => ({ id: '' }) }));
    const failed = errors.length;
    expect(await refusal('/api/revert', body, { handler: noActor })).toMatchObject({ status: 500, code: 'internal' });
    expect(String(errors[failed])).toMatch(/actor\(\) must return \{ id: string/);
    expect(await snapshot()).toEqual(before);
  });
});

describe('api/revert', () => {
  it('dry run: the plan with its SQL and diff, nothing written', async () => {
    const [pay] = await changeIds(`table_name = 'orders' AND request_id = 'req-pay'`);
    const before = await snapshot();
    const result = await write('/api/revert', { change: pay, dryRun: true });
    expect(result.applied).toBe(false);
    expect(result.changeIds).toEqual([]);
    const [statement] = result.plan.statements;
    expect(statement).toMatchObject({ operation: 'UPDATE', rowKey: '1', reverts: [pay] });
    expect(statement?.sql).toMatch(/^UPDATE "public"."orders"/);
    expect(statement?.diff.sort((a, b) => a.column.localeCompare(b.column))).toEqual([
      { column: 'paid_at', from: '2026-01-02T03:04:05.123456+00:00', to: null },
      { column: 'status', from: 'paid', to: 'draft' },
      { column: 'total', from: 12.5, to: 10 },
    ]);
    expect(await snapshot()).toEqual(before);
  });

  it('writes as the admin user, with source restore, the reason and the change it reverses', async () => {
    const [pay] = await changeIds(`table_name = 'orders' AND request_id = 'req-pay'`);
    const result = await write('/api/revert', { change: pay, reason: 'paid by mistake' });
    expect(result.applied).toBe(true);
    const { rows: order } = await app.query('SELECT status, total::text, paid_at FROM orders WHERE id = 1');
    expect(order).toEqual([{ status: 'draft', total: '10.00', paid_at: null }]);
    const { rows } = await db.pool.query(
      `SELECT id::text, actor_id, request_id, context->>'actor_label' AS label, context->>'source' AS source,
         context->>'reason' AS reason, context->'reverts' AS reverts, new_values
       FROM auditrum.changes WHERE id = ANY($1::bigint[])`,
      [result.changeIds],
    );
    expect(rows).toEqual([
      {
        id: result.changeIds[0],
        actor_id: 'admin-writer',
        request_id: result.requestId,
        label: 'writer@example.com',
        source: 'restore',
        reason: 'paid by mistake',
        reverts: [pay],
        new_values: { status: 'draft', total: 10, paid_at: null },
      },
    ]);
  });

  it('refuses conflicts with 409 and the plan, and writes them with force', async () => {
    const [create] = await changeIds(`table_name = 'orders' AND row_key = '3'`);
    await app.query(`UPDATE orders SET status = 'sent' WHERE id = 3`);
    const [, later] = await changeIds(`table_name = 'orders' AND row_key = '3'`);
    // Reverting the INSERT deletes the row: the later UPDATE is in the way.
    const before = await snapshot();
    const refused = await refusal('/api/revert', { change: create, reason: 'no such order' });
    expect([refused.status, refused.code]).toEqual([409, 'conflict']);
    expect(refused.plan?.conflicts.map((c) => [c.kind, c.changeId])).toEqual([['changed-since', later]]);
    expect(await snapshot()).toEqual(before);
    const forced = await write('/api/revert', { change: create, reason: 'no such order', force: true });
    expect(forced.plan.statements.map((s) => s.operation)).toEqual(['DELETE']);
    expect((await app.query('SELECT 1 FROM orders WHERE id = 3')).rowCount).toBe(0);
  });

  it('refuses each bad field with a clear 4xx, and changes nothing', async () => {
    const [pay] = await changeIds(`table_name = 'orders' AND request_id = 'req-pay'`);
    const [secret] = await changeIds(`table_name = 'secrets'`);
    const before = await snapshot();
    const cases: [unknown, number, string | undefined][] = [
      [{ reason: 'x' }, 400, 'change'],
      [{ change: 'abc', reason: 'x' }, 400, 'change'],
      [{ change: '-1', reason: 'x' }, 400, 'change'],
      [{ change: '99999999999999999999', reason: 'x' }, 400, 'change'],
      [{ change: { id: 1 }, reason: 'x' }, 400, 'change'],
      [{ change: '999999', reason: 'x' }, 404, undefined],
      [{ change: pay }, 400, 'reason'],
      [{ change: pay, reason: '' }, 400, 'reason'],
      [{ change: pay, reason: 'x'.repeat(1001) }, 400, 'reason'],
      [{ change: pay, reason: 'x', dryrun: true }, 400, 'dryrun'],
      [{ change: pay, reason: 'x', force: 'yes' }, 400, 'force'],
      [{ change: pay, reason: 'x', dryRun: 'true' }, 400, 'dryRun'],
      [{ change: pay, reason: 'x', dryRun: 1 }, 400, 'dryRun'],
      [{ change: pay, reason: 'x', table: 'public.nope', key: 1 }, 400, 'table'],
      [{ change: pay, reason: 'x', table: 'public.orders' }, 400, 'key'],
      [{ change: pay, reason: 'x', key: 1 }, 400, 'key'],
      [{ change: pay, reason: 'x', table: 'public.orders', key: 'abc' }, 400, 'key'],
      [{ change: pay, reason: 'x', table: 'public.orders', key: [1, 2] }, 400, 'key'],
      // The original reverted a change given with another row without checking one belonged to the other.
      [{ change: pay, reason: 'x', table: 'public.orders', key: 2 }, 400, 'change'],
      [{ change: pay, reason: 'x', table: 'public.secrets', key: 1 }, 400, 'change'],
      [[pay], 400, 'body'],
    ];
    for (const [body, status, parameter] of cases) {
      const reply = await refusal('/api/revert', body);
      expect([body, reply.status, reply.parameter]).toEqual([body, status, parameter]);
    }
    expect(secret).toBeDefined();
    expect(await snapshot()).toEqual(before);
  });
});

describe('what cannot be restored', () => {
  it('is a 409 unrestorable naming the masked column, and force puts back the rest', async () => {
    const [update] = await changeIds(`table_name = 'people' AND request_id = 'req-people'`);
    const before = await snapshot();
    const refused = await refusal('/api/revert', { change: update, reason: 'typo in the name' });
    expect([refused.status, refused.code]).toEqual([409, 'unrestorable']);
    expect(refused.plan?.unrestorable.map((item) => [item.column, item.reason, item.blocking])).toEqual([
      ['ssn', 'masked', true],
    ]);
    expect(await snapshot()).toEqual(before);
    await write('/api/revert', { change: update, reason: 'typo in the name', force: true });
    expect((await app.query('SELECT name, ssn FROM people WHERE id = 1')).rows).toEqual([
      { name: 'Ann', ssn: '987-65-4321' },
    ]);
  });
});

describe('api/restore', () => {
  it('puts a row back to its state at a time, or before a change, as the admin user', async () => {
    await app.query(`UPDATE orders SET status = 'lost', total = 0 WHERE id = 4`);
    await app.query(`UPDATE orders SET status = 'found' WHERE id = 4`);
    const [insert, lost, found] = await changeIds(`table_name = 'orders' AND row_key = '4'`);
    const { rows } = await db.pool.query<{ t: string }>(
      `SELECT to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t FROM auditrum.changes
       WHERE id = $1::bigint`,
      [insert],
    );
    const atInsert = rows[0]?.t as string;
    const plan = await write('/api/restore', { table: 'public.orders', key: 4, beforeChange: found, dryRun: true });
    expect(plan.plan.statements.map((s) => [s.operation, s.reverts])).toEqual([['UPDATE', [found]]]);
    const result = await write('/api/restore', { table: 'public.orders', key: '4', at: atInsert, reason: 'audit' });
    expect(result.plan.statements[0]?.reverts).toEqual([lost, found]);
    expect((await app.query('SELECT status, total::text FROM orders WHERE id = 4')).rows).toEqual([
      { status: 'draft', total: '40.00' },
    ]);
    const { rows: written } = await db.pool.query(
      `SELECT actor_id, context->>'source' AS source, context->>'reason' AS reason FROM auditrum.changes
       WHERE id = ANY($1::bigint[])`,
      [result.changeIds],
    );
    expect(written).toEqual([{ actor_id: 'admin-writer', source: 'restore', reason: 'audit' }]);
  });

  it('refuses each bad field with a clear 4xx, and changes nothing', async () => {
    const [insert] = await changeIds(`table_name = 'orders' AND row_key = '4'`);
    const [other] = await changeIds(`table_name = 'orders' AND row_key = '1'`);
    const before = await snapshot();
    const row = { table: 'public.orders', key: 4, reason: 'x' };
    for (const [body, status, parameter] of [
      [{ ...row }, 400, 'at'],
      [{ ...row, at: '2026-03-01T12:00:00Z', beforeChange: insert }, 400, 'at'],
      [{ ...row, at: '2026-03-01T12:00:00' }, 400, 'at'],
      [{ ...row, at: '2026-02-30T12:00:00Z' }, 400, 'at'],
      [{ ...row, at: 20260301 }, 400, 'at'],
      [{ ...row, beforeChange: 'first' }, 400, 'beforeChange'],
      [{ ...row, beforeChange: other }, 400, 'beforeChange'],
      [{ ...row, beforeChange: '999999' }, 404, undefined],
      [{ ...row, key: 'four', at: '2026-03-01T12:00:00Z' }, 400, 'key'],
      [{ ...row, table: 'public.nope', at: '2026-03-01T12:00:00Z' }, 400, 'table'],
      [{ table: 'public.orders', key: 4, at: '2026-03-01T12:00:00Z' }, 400, 'reason'],
    ] as const) {
      const reply = await refusal('/api/restore', body);
      expect([body, reply.status, reply.parameter]).toEqual([body, status, parameter]);
    }
    expect(await snapshot()).toEqual(before);
  });
});

describe('api/deleted and api/undelete', () => {
  it('lists the recycle bin a page at a time and brings a row back as the admin user', async () => {
    // Row 3 was deleted by the forced revert above: a restore's DELETE is in the bin too, with its reason.
    const first = await get<DeletedRowsResponse>('api/deleted', { table: 'public.orders', limit: '2' });
    expect(first.items.map((row) => [row.rowKey, row.values.status, row.actorId, row.reason])).toEqual([
      ['3', 'sent', 'admin-writer', 'no such order'],
      ['6', 'draft', 'u-alice', null],
    ]);
    expect(first.nextCursor).not.toBeNull();
    const second = await get<DeletedRowsResponse>('api/deleted', {
      table: 'public.orders',
      limit: '2',
      cursor: first.nextCursor as string,
    });
    expect([second.items.map((row) => [row.rowKey, row.requestId]), second.nextCursor]).toEqual([
      [['5', 'req-delete']],
      null,
    ]);
    const result = await write('/api/undelete', { table: 'public.orders', key: '5', reason: 'deleted by mistake' });
    expect(result.plan.statements.map((s) => s.operation)).toEqual(['INSERT']);
    expect((await app.query('SELECT id, status, total::text FROM orders WHERE id = 5')).rows).toEqual([
      { id: 5, status: 'draft', total: '50.00' },
    ]);
    const { rows } = await db.pool.query(
      `SELECT actor_id, context->>'source' AS source, context->>'reason' AS reason FROM auditrum.changes
       WHERE id = $1::bigint`,
      [result.changeIds[0]],
    );
    expect(rows).toEqual([{ actor_id: 'admin-writer', source: 'restore', reason: 'deleted by mistake' }]);
    const again = await refusal('/api/undelete', { table: 'public.orders', key: 5, reason: 'twice' });
    expect([again.status, again.code]).toEqual([409, 'conflict']);
  });

  it('refuses each bad parameter with a clear 4xx', async () => {
    const before = await snapshot();
    for (const [body, status, parameter] of [
      [{ key: 6, reason: 'x' }, 400, 'table'],
      [{ table: 'public.orders', reason: 'x' }, 400, 'key'],
      [{ table: 'public.nope', key: 6, reason: 'x' }, 400, 'table'],
      [{ table: 'public.orders', key: 'six', reason: 'x' }, 400, 'key'],
      [{ table: 'public.orders', key: { nope: 6 }, reason: 'x' }, 400, 'key'],
      [{ table: 'public.orders', key: 99, reason: 'x' }, 404, undefined],
      [{ table: 'public.orders', key: 6 }, 400, 'reason'],
      // Hostile values: SQL in the table and the key, NUL, a key of the wrong kind, a huge key.
      [{ table: 'public.orders; DROP TABLE orders', key: 6, reason: 'x' }, 400, 'table'],
      [{ table: 'public.orders', key: "6'); DROP TABLE orders; --", reason: 'x' }, 400, 'key'],
      [{ table: 'public.orders', key: 6, reason: 'a\u0000b' }, 400, 'reason'],
      [{ table: 'public.orders', key: null, reason: 'x' }, 400, 'key'],
      [{ table: 'public.orders', key: [[6]], reason: 'x' }, 400, 'key'],
      [{ table: 'public.orders', key: '9'.repeat(5000), reason: 'x' }, 400, 'key'],
      [{ table: ['public.orders'], key: 6, reason: 'x' }, 400, 'table'],
    ] as const) {
      const reply = await refusal('/api/undelete', body);
      expect([body, reply.status, reply.parameter]).toEqual([body, status, parameter]);
    }
    for (const [query, parameter] of [
      [{}, 'table'],
      [{ table: 'public.nope' }, 'table'],
      [{ table: 'public.orders', limit: '0' }, 'limit'],
      [{ table: 'public.orders', cursor: 'abc' }, 'cursor'],
    ] as const) {
      const reply = await get<AdminErrorBody>('api/deleted', query);
      expect([query, reply.error.parameter]).toEqual([query, parameter]);
    }
    expect(await snapshot()).toEqual(before);
  });
});

describe('api/undo', () => {
  it('reverses every change of a request, newest first, as the admin user', async () => {
    const result = await write('/api/undo', { request: 'req-both', reason: 'wrong customer' });
    expect(result.plan.statements.map((s) => [s.table, s.operation])).toEqual([
      ['public.secrets', 'DELETE'],
      ['public.orders', 'UPDATE'],
    ]);
    expect((await app.query('SELECT status FROM orders WHERE id = 2')).rows).toEqual([{ status: 'draft' }]);
    const { rows } = await db.pool.query<{ actor_id: string }>(
      'SELECT DISTINCT actor_id FROM auditrum.changes WHERE id = ANY($1::bigint[])',
      [result.changeIds],
    );
    expect(rows).toEqual([{ actor_id: 'admin-writer' }]);
    // The restore is itself a request: undoing it puts the data back as it was.
    await write('/api/undo', { request: result.requestId, reason: 'it was right after all' });
    expect((await app.query('SELECT status FROM orders WHERE id = 2')).rows).toEqual([{ status: 'sent' }]);
  });

  it('refuses each bad parameter with a clear 4xx', async () => {
    const before = await snapshot();
    for (const [body, status, parameter] of [
      [{ reason: 'x' }, 400, 'request'],
      [{ request: 'req-pay', txid: '1', reason: 'x' }, 400, 'request'],
      [{ txid: 'abc', reason: 'x' }, 400, 'txid'],
      [{ txid: 1.5, reason: 'x' }, 400, 'txid'],
      [{ request: 42, reason: 'x' }, 400, 'request'],
      [{ request: 'no-such-request', reason: 'x' }, 404, undefined],
      [{ txid: '1', reason: 'x' }, 404, undefined],
      [{ request: 'req-pay' }, 400, 'reason'],
    ] as const) {
      const reply = await refusal('/api/undo', body);
      expect([body, reply.status, reply.parameter]).toEqual([body, status, parameter]);
    }
    expect(await snapshot()).toEqual(before);
  });
});

describe('the scope narrows writes', () => {
  it('refuses tables, changes and requests outside it, and every write under an actor scope', async () => {
    const [order] = await changeIds(`table_name = 'orders' AND request_id = 'req-create'`);
    const onlySecrets = createAdminRoutes<User>(options({ scope: () => ({ tables: ['public.secrets'] }) }));
    const onlyOrders = createAdminRoutes<User>(options({ scope: () => ({ tables: ['public.orders'] }) }));
    const onlyAlice = createAdminRoutes<User>(options({ scope: () => ({ actor: 'u-alice' }) }));
    const before = await snapshot();
    const body = { reason: 'out of scope', dryRun: true };
    expect(await refusal('/api/revert', { ...body, change: order }, { handler: onlySecrets })).toMatchObject({
      status: 404,
    });
    for (const path of ['/api/undelete', '/api/restore']) {
      const reply = await refusal(
        path,
        { ...body, table: 'public.orders', key: 6, at: '2026-01-01' },
        { handler: onlySecrets },
      );
      expect([path, reply.status, reply.parameter]).toEqual([path, 400, 'table']);
    }
    // req-both changed orders and secrets: a user who sees one of them cannot undo both.
    expect(await refusal('/api/undo', { ...body, request: 'req-both' }, { handler: onlyOrders })).toMatchObject({
      status: 403,
      code: 'forbidden',
    });
    expect(await refusal('/api/undo', { ...body, request: 'req-pay' }, { handler: onlySecrets })).toMatchObject({
      status: 404,
    });
    expect((await post('/api/undo', { ...body, request: 'req-pay' }, { handler: onlyOrders })).status).toBe(200);
    for (const [path, target] of [
      ['/api/revert', { change: order }],
      ['/api/restore', { table: 'public.orders', key: 1, beforeChange: order }],
      ['/api/undelete', { table: 'public.orders', key: 6 }],
      ['/api/undo', { request: 'req-pay' }],
    ] as const) {
      const reply = await refusal(path, { ...body, ...target }, { handler: onlyAlice });
      expect([path, reply.status, reply.code]).toEqual([path, 403, 'forbidden']);
    }
    expect(await snapshot()).toEqual(before);
  });
});

describe('concurrent writes', () => {
  it('on a pool of one: queued reads and writes all finish, and a row is undeleted once, the other refused', async () => {
    await app.query('DELETE FROM orders WHERE id = 1');
    const single = role.openPool({ max: 1 });
    try {
      const admin = createAdminRoutes<User>(options({ pool: single }));
      const body = { table: 'public.orders', key: 1, reason: 'two admins at once' };
      const [first, second, ...dryRuns] = await Promise.all([
        post('/api/undelete', body, { handler: admin }),
        post('/api/undelete', body, { handler: admin }),
        post('/api/revert', { change: '1', dryRun: true }, { handler: admin }),
        post('/api/undo', { request: 'req-pay', dryRun: true }, { handler: admin }),
      ]);
      expect([first?.status, second?.status].sort()).toEqual([200, 409]);
      expect(dryRuns.map((reply) => reply.status)).toEqual([200, 200]);
      const restored = await changeIds(
        `table_name = 'orders' AND row_key = '1' AND operation = 'INSERT' AND context->>'source' = 'restore'`,
      );
      expect(restored).toHaveLength(1);
      expect((await app.query('SELECT status FROM orders WHERE id = 1')).rows).toEqual([{ status: 'draft' }]);
      expect(single.totalCount - single.idleCount).toBe(0);
    } finally {
      await single.end();
    }
  });
});

describe('the pool', () => {
  it('must be an application role: another role writes nothing, and the reason goes to onError', async () => {
    const name = `admin_${randomBytes(5).toString('hex')}`;
    const password = randomBytes(9).toString('hex');
    await db.pool.query(`CREATE ROLE ${name} LOGIN PASSWORD '${password}'`);
    const url = new URL(db.url);
    url.username = name;
    url.password = password;
    const untrusted = ignoreIdleErrors(new pg.Pool({ connectionString: url.toString(), max: 1 }));
    try {
      await db.pool.query(`GRANT USAGE ON SCHEMA auditrum TO ${name}`);
      await db.pool.query(
        `GRANT SELECT ON auditrum.tracked_tables, auditrum.changes, auditrum.column_names TO ${name}`,
      );
      await app.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO ${name}`);
      const admin = createAdminRoutes<User>(options({ pool: untrusted }));
      const [pay] = await changeIds(`table_name = 'orders' AND request_id = 'req-pay'`);
      const failed = errors.length;
      const before = await snapshot();
      const reply = await refusal('/api/revert', { change: pay, reason: 'x', force: true }, { handler: admin });
      expect([reply.status, reply.code]).toEqual([500, 'internal']);
      expect(String(errors[failed])).toMatch(new RegExp(`role ${name} is not trusted.*auditrum app-role add ${name}`));
      expect(await snapshot()).toEqual(before);
    } finally {
      await untrusted.end();
      await app.query(`REVOKE ALL ON orders FROM ${name}`);
      await db.pool.query(`DROP OWNED BY ${name}`);
      await db.pool.query(`DROP ROLE ${name}`);
    }
  });
});

describe('every refusal above', () => {
  it('was a 4xx but the two a host causes (an actor() without id, an untrusted pool): nothing else reached onError', () => {
    expect(errors.map((error) => String(error))).toEqual([
      expect.stringMatching(/actor\(\) must return/),
      expect.stringMatching(/is not trusted/),
    ]);
  });
});
