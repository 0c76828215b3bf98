import { createAuditrum, withAuditContext } from '@auditrum/core';
import type {
  AdminErrorBody,
  AdminHandler,
  BlameResponse,
  FieldHistoryResponse,
  RowAsOfResponse,
  TableAsOfResponse,
} from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The admin's history read routes (blame, rows and tables as of a time, a field's history, the recycle bin) on a
 * real database, through the route table, as a non-superuser application role that owns its tables: their answers,
 * the scope, and a clear 400/403/404 for every bad parameter (never a 500).
 */

const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let admin: AdminHandler<{ user: string }>;
const errors: unknown[] = [];
const times = { afterInsert: '', afterUpdate: '' };

async function call(
  path: string,
  query: Record<string, string> = {},
  handler: AdminHandler<{ user: string }> = admin,
): Promise<{ status: number; body: unknown }> {
  const response = await handler({
    method: 'GET',
    path,
    query: new URLSearchParams(query),
    headers: {},
    basePath: '/audit-admin',
    raw: { user: 'staff' },
  });
  return { status: response.status, body: JSON.parse(response.body as string) };
}

async function json<T>(path: string, query: Record<string, string> = {}, handler = admin): Promise<T> {
  const response = await call(path, query, handler);
  if (response.status !== 200) throw new Error(`${path} ${JSON.stringify(query)}: ${JSON.stringify(response)}`);
  return response.body as T;
}

async function refused(path: string, query: Record<string, string>, handler = admin) {
  const response = await call(path, query, handler);
  const { error } = response.body as AdminErrorBody;
  return { status: response.status, code: error.code, parameter: error.parameter, message: error.message };
}

/** The database's clock now, as the admin would be given it: an instant with a zone. */
async function now(): Promise<string> {
  const { rows } = await app.query<{ t: string }>(
    `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`,
  );
  return rows[0]?.t as string;
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  // What docs/admin.md asks of the admin's pool: reading the Auditrum schema.
  await grantLogReads(db, role);
  await app.query('CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL, total numeric(10,2), note text)');
  await app.query('CREATE TABLE pairs (a text, b date, v int, PRIMARY KEY (a, b))');
  await app.query('CREATE TABLE secrets (id int PRIMARY KEY, value text)');
  await db.pool.query(`CREATE SCHEMA "Odd ""Schema"" " AUTHORIZATION ${pg.escapeIdentifier(role.name)}`);
  await app.query(`CREATE TABLE "Odd ""Schema"" "."Mixed.Table" ("Id" int PRIMARY KEY, "a b" text)`);
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  for (const table of ['orders', 'pairs', 'secrets']) await auditrum.track(`public.${table}`);
  await auditrum.track('"Odd ""Schema"" "."Mixed.Table"');
  createAuditrum({ pool: app, partitions: false });

  const alice = { id: 'u-alice', label: 'alice@example.com' };
  const bob = { id: 'u-bob', label: 'bob' };
  await withAuditContext({ actor: alice, source: 'http', requestId: 'req-1' }, () =>
    app.query(
      `INSERT INTO orders VALUES (1, 'draft', 10.00, 'first'), (2, 'draft', 5.00, NULL), (10, 'draft', 1, NULL),
         (3, 'draft', 3, NULL)`,
    ),
  );
  times.afterInsert = await now();
  await withAuditContext({ actor: bob, source: 'http', requestId: 'req-2', reason: 'refund #981' }, () =>
    app.query(`UPDATE orders SET status = 'paid', total = 12.50 WHERE id = 1`),
  );
  times.afterUpdate = await now();
  await withAuditContext({ actor: alice, source: 'http', requestId: 'req-3' }, () =>
    app.query('DELETE FROM orders WHERE id = 2'),
  );
  await app.query(`INSERT INTO pairs VALUES ('x', '2024-01-02', 1)`);
  await app.query(`INSERT INTO secrets VALUES (1, 'hidden')`);
  await withAuditContext({ actor: bob, requestId: 'req-odd' }, () =>
    app.query(`INSERT INTO "Odd ""Schema"" "."Mixed.Table" VALUES (7, 'x')`),
  );
  admin = createAdminRoutes({ pool: app, authorize: (req) => req.user === 'staff', onError: (e) => errors.push(e) });
});

afterAll(async () => {
  await app?.end();
  // No route answered a 500: every bad parameter was a clear 4xx.
  expect(errors).toEqual([]);
});

describe('api/blame', () => {
  it('names, per field, the change that set its current value, with actor, request and reason', async () => {
    const blame = await json<BlameResponse>('api/blame', { table: 'public.orders', key: '1' });
    expect(blame.rowKey).toBe('1');
    expect(
      blame.fields.map((f) => [f.field, f.newValue, f.change?.actorId, f.change?.requestId, f.change?.reason]),
    ).toEqual([
      ['id', 1, 'u-alice', 'req-1', null],
      ['status', 'paid', 'u-bob', 'req-2', 'refund #981'],
      ['total', 12.5, 'u-bob', 'req-2', 'refund #981'],
      ['note', 'first', 'u-alice', 'req-1', null],
    ]);
    const status = await json<BlameResponse>('api/blame', { table: 'public.orders', key: '1', field: 'status' });
    expect(status.fields.map((f) => [f.field, f.oldValue, f.newValue])).toEqual([['status', 'draft', 'paid']]);
    const deleted = await json<BlameResponse>('api/blame', { table: 'public.orders', key: '2' });
    expect(deleted.deletedBy?.requestId).toBe('req-3');
  });

  it('takes a composite key as a JSON array or object', async () => {
    for (const key of ['["x", "2024-01-02"]', '{"b": "2024-01-02", "a": "x"}']) {
      const blame = await json<BlameResponse>('api/blame', { table: 'public.pairs', key });
      expect(blame.rowKey).toBe('["x", "2024-01-02"]');
    }
  });

  it('refuses bad parameters with 400/404, naming them', async () => {
    const cases: [Record<string, string>, number, string | undefined][] = [
      [{ key: '1' }, 400, 'table'],
      [{ table: 'public.orders' }, 400, 'key'],
      [{ table: 'public.nope', key: '1' }, 400, 'table'],
      [{ table: 'orders"; DROP TABLE orders; --', key: '1' }, 400, 'table'],
      [{ table: 'public.orders', key: 'abc' }, 400, 'key'],
      [{ table: 'public.orders', key: '[1, 2]' }, 400, 'key'],
      [{ table: 'public.orders', key: '[1,' }, 400, 'key'],
      [{ table: 'public.orders', key: '{"id": {"x": 1}}' }, 400, 'key'],
      [{ table: 'public.pairs', key: '["x"]' }, 400, 'key'],
      [{ table: 'public.orders', key: '1', field: 'nope' }, 400, 'field'],
      [{ table: 'public.orders', key: '99' }, 404, undefined],
    ];
    for (const [query, status, parameter] of cases) {
      const answer = await refused('api/blame', query);
      expect([query, answer.status, answer.parameter]).toEqual([query, status, parameter]);
    }
    expect(await db.pool.query('SELECT count(*)::int AS n FROM orders')).toMatchObject({ rows: [{ n: 3 }] });
  });
});

describe('api/row-as-of', () => {
  it('rebuilds the row as it was at a time, under today’s names', async () => {
    const draft = await json<RowAsOfResponse>('api/row-as-of', {
      table: 'public.orders',
      key: '1',
      at: times.afterInsert,
    });
    expect([draft.exists, draft.values, draft.unknown, draft.rebuiltFrom]).toEqual([
      true,
      { id: 1, status: 'draft', total: 10, note: 'first' },
      [],
      'forward',
    ]);
    const paid = await json<RowAsOfResponse>('api/row-as-of', {
      table: 'public.orders',
      key: '1',
      at: times.afterUpdate,
    });
    expect(paid.values).toMatchObject({ status: 'paid', total: 12.5 });
    expect(paid.lastChangedAt).toMatch(/^\d{4}-\d{2}-\d{2}T.*Z$/);
    const gone = await json<RowAsOfResponse>('api/row-as-of', { table: 'public.orders', key: '2', at: await now() });
    expect(gone.exists).toBe(false);
    const before = await json<RowAsOfResponse>('api/row-as-of', { table: 'public.orders', key: '1', at: '2001-01-01' });
    expect(before.exists).toBe(false);
  });

  it('refuses a time without a zone and every other bad parameter with a 400 naming it', async () => {
    const at = times.afterInsert;
    for (const [query, parameter] of [
      [{ table: 'public.orders', key: '1', at: '2026-03-01T12:00:00' }, 'at'],
      [{ table: 'public.orders', key: '1', at: '2026-02-30' }, 'at'],
      [{ table: 'public.orders', key: '1', at: 'yesterday' }, 'at'],
      [{ table: 'public.orders', key: '1' }, 'at'],
      [{ table: 'public.orders', at }, 'key'],
      [{ table: 'public.orders', key: 'abc', at }, 'key'],
      [{ table: 'public.orders', key: '{"nope": 1}', at }, 'key'],
      [{ table: 'public.pairs', key: '["x", "not a date"]', at }, 'key'],
      [{ key: '1', at }, 'table'],
      [{ table: 'public.nope', key: '1', at }, 'table'],
    ] as const) {
      const answer = await refused('api/row-as-of', query);
      expect([query, answer.status, answer.parameter]).toEqual([query, 400, parameter]);
    }
  });
});

describe('api/table-as-of', () => {
  it('pages the rows that existed at a time in key order, with a key filter', async () => {
    const at = times.afterUpdate;
    const all = await json<TableAsOfResponse>('api/table-as-of', { table: 'public.orders', at });
    expect(all.columns).toEqual(['id', 'status', 'total', 'note']);
    expect(all.items.map((row) => [row.rowKey, row.values.status])).toEqual([
      ['1', 'paid'],
      ['2', 'draft'],
      ['3', 'draft'],
      ['10', 'draft'],
    ]);
    expect(all.nextCursor).toBeNull();
    const keys: string[] = [];
    let cursor: string | null | undefined;
    do {
      const page: TableAsOfResponse = await json<TableAsOfResponse>('api/table-as-of', {
        table: 'public.orders',
        at,
        limit: '3',
        ...(cursor ? { cursor } : {}),
      });
      keys.push(...page.items.map((row) => row.rowKey));
      cursor = page.nextCursor;
    } while (cursor);
    expect(keys).toEqual(['1', '2', '3', '10']);
    const filtered = await json<TableAsOfResponse>('api/table-as-of', { table: 'public.orders', at, key: '1' });
    expect(filtered.items.map((row) => row.rowKey)).toEqual(['1', '10']);
    const now_ = await json<TableAsOfResponse>('api/table-as-of', { table: 'public.orders', at: await now() });
    expect(now_.items.map((row) => row.rowKey)).toEqual(['1', '3', '10']);
  });

  it('refuses bad parameters with a 400 naming them', async () => {
    const at = times.afterUpdate;
    for (const [query, parameter] of [
      [{ table: 'public.orders' }, 'at'],
      [{ table: 'public.orders', at: '2026-03-01 12:00' }, 'at'],
      [{ at }, 'table'],
      [{ table: 'public.orders', at, limit: '201' }, 'limit'],
      [{ table: 'public.orders', at, cursor: 'nope' }, 'cursor'],
      [{ table: 'public.orders', at, cursor: Buffer.from('c:12').toString('base64url') }, 'cursor'],
      [{ table: 'public.orders', at, key: 'a\u0000b' }, 'key'],
      [{ table: 'public.orders', at, key: '1'.repeat(16_385) }, 'key'],
    ] as const) {
      const answer = await refused('api/table-as-of', query);
      expect([query, answer.status, answer.parameter]).toEqual([query, 400, parameter]);
    }
    const twice = await admin({
      method: 'GET',
      path: '/api/table-as-of',
      query: new URLSearchParams(`table=public.orders&at=${encodeURIComponent(at)}&key=1&key=2`),
      headers: {},
      basePath: '',
      raw: { user: 'staff' },
    });
    expect([twice.status, (JSON.parse(twice.body as string) as AdminErrorBody).error.message]).toEqual([
      400,
      'key: given more than once',
    ]);
  });
});

describe('api/field-history', () => {
  it('lists the recorded values of one field, oldest first, up to a time', async () => {
    const history = await json<FieldHistoryResponse>('api/field-history', {
      table: 'public.orders',
      key: '1',
      field: 'status',
    });
    expect(history.entries.map((e) => [e.operation, e.oldValue, e.value, e.actorId, e.reason])).toEqual([
      ['INSERT', null, 'draft', 'u-alice', null],
      ['UPDATE', 'draft', 'paid', 'u-bob', 'refund #981'],
    ]);
    // The label each change recorded for its actor, for the admin to show.
    expect(history.entries.map((e) => e.actorLabel)).toEqual(['alice@example.com', 'bob']);
    const upTo = await json<FieldHistoryResponse>('api/field-history', {
      table: 'public.orders',
      key: '1',
      field: 'status',
      at: times.afterInsert,
    });
    expect(upTo.entries.map((e) => e.value)).toEqual(['draft']);
  });

  it('refuses bad parameters with a 400 naming them', async () => {
    for (const [query, parameter] of [
      [{ table: 'public.orders', key: '1' }, 'field'],
      [{ table: 'public.orders', key: '1', field: 'nope' }, 'field'],
      [{ table: 'public.orders', key: '1', field: 'status', at: '2026-03-01T12:00' }, 'at'],
      [{ table: 'public.orders', key: 'x', field: 'status' }, 'key'],
      [{ table: 'public.secretz', key: '1', field: 'status' }, 'table'],
    ] as const) {
      const answer = await refused('api/field-history', query);
      expect([query, answer.status, answer.parameter]).toEqual([query, 400, parameter]);
    }
  });
});

describe('quoted names', () => {
  it('reads a table whose schema and name need quoting, as api/tables names it', async () => {
    const name = 'Odd "Schema" .Mixed.Table';
    const blame = await json<BlameResponse>('api/blame', { table: name, key: '7' });
    expect(blame.fields.map((f) => [f.field, f.newValue, f.change?.requestId])).toEqual([
      ['Id', 7, 'req-odd'],
      ['a b', 'x', 'req-odd'],
    ]);
    const row = await json<RowAsOfResponse>('api/row-as-of', { table: name, key: '7', at: await now() });
    expect(row.values).toEqual({ Id: 7, 'a b': 'x' });
    const page = await json<TableAsOfResponse>('api/table-as-of', { table: name, at: await now() });
    expect(page.items.map((r) => r.rowKey)).toEqual(['7']);
  });
});

describe('the scope', () => {
  it('keeps tables out of every history route, and an actor scope out of rebuilt rows', async () => {
    const onlySecrets = createAdminRoutes({
      pool: app,
      authorize: () => true,
      scope: () => ({ tables: ['public.secrets'] }),
    });
    expect(await refused('api/blame', { table: 'public.orders', key: '1' }, onlySecrets)).toMatchObject({
      status: 400,
      parameter: 'table',
    });
    expect((await json<BlameResponse>('api/blame', { table: 'public.secrets', key: '1' }, onlySecrets)).rowKey).toBe(
      '1',
    );
    const at = times.afterUpdate;
    for (const [path, query] of [
      ['api/row-as-of', { table: 'public.orders', key: '1', at }],
      ['api/table-as-of', { table: 'public.orders', at }],
      ['api/field-history', { table: 'public.orders', key: '1', field: 'status' }],
      ['api/deleted', { table: 'public.orders' }],
    ] as const) {
      const answer = await refused(path, query, onlySecrets);
      expect([path, answer.status, answer.parameter]).toEqual([path, 400, 'table']);
    }
    const onlyBob = createAdminRoutes({ pool: app, authorize: () => true, scope: () => ({ actor: 'u-bob' }) });
    for (const [path, query] of [
      ['api/blame', { table: 'public.orders', key: '1' }],
      ['api/row-as-of', { table: 'public.orders', key: '1', at }],
      ['api/table-as-of', { table: 'public.orders', at }],
      ['api/field-history', { table: 'public.orders', key: '1', field: 'status' }],
      ['api/deleted', { table: 'public.orders' }],
    ] as const) {
      const answer = await refused(path, query, onlyBob);
      expect([path, answer.status, answer.code]).toEqual([path, 403, 'forbidden']);
    }
  });
});
