import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAuditrum, withAuditContext } from '@auditrum/core';
import type { AdminHandler, AdminResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The admin on a pool of one and of two connections, as a non-superuser application role, with requests at once:
 * every read route (exports read slowly, or left unread), and the writes' dry runs. None may wait on a connection
 * that a request holds while it waits for another (a deadlock: the request never answers), none may keep one (the
 * pool answers afterwards, nothing is left open in PostgreSQL), and each answers what it answers alone.
 */

const db = useTestDatabase();
const role = useAppRole(db);
const errors: unknown[] = [];
let setUp: pg.Pool;
let at = '';
let change = '';
let txid = '';

interface User {
  user: string;
}

function call(admin: AdminHandler<User>, path: string, query: Record<string, string>, body?: unknown) {
  return admin({
    method: body === undefined ? 'GET' : 'POST',
    path,
    query: new URLSearchParams(query),
    headers:
      body === undefined ? {} : { host: 'admin.test', origin: 'http://admin.test', 'content-type': 'application/json' },
    basePath: '/audit-admin',
    ...(body === undefined ? {} : { body: Readable.from([JSON.stringify(body)]) }),
    raw: { user: 'writer' },
  });
}

/** The whole body, read in chunks with a pause between each when `slowly`. */
async function read(response: AdminResponse, slowly = false): Promise<string> {
  if (typeof response.body === 'string' || Buffer.isBuffer(response.body)) return String(response.body);
  let all = '';
  for await (const chunk of response.body) {
    all += String(chunk);
    if (slowly) await sleep(5);
  }
  return all;
}

type Answer = [status: number, body: string];

/** A request's status and whole body (read slowly: see `read`). */
async function answer(
  admin: AdminHandler<User>,
  path: string,
  query: Record<string, string>,
  body?: unknown,
  slowly = false,
): Promise<Answer> {
  const response = await call(admin, path, query, body);
  return [response.status, await read(response, slowly)];
}

/** `work`, or a failure naming it when it has not answered within `ms`. */
async function answered<T>(what: string, work: Promise<T>, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms (a deadlock on the pool?)`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

const READS: [string, () => Record<string, string>][] = [
  ['api/tables', () => ({})],
  ['api/changes', () => ({ table: 'public.orders' })],
  ['api/changes', () => ({ txid })],
  ['api/changes', () => ({ q: 'paid' })],
  ['api/changes/export', () => ({ format: 'ndjson', table: 'public.orders' })],
  ['api/changes/export', () => ({ format: 'csv', q: 'draft' })],
  ['api/history', () => ({ table: 'public.orders', key: '1' })],
  ['api/row-as-of', () => ({ table: 'public.orders', key: '1', at })],
  ['api/table-as-of', () => ({ table: 'public.orders', at })],
  ['api/table-as-of', () => ({ table: 'public.orders', at, key: '1' })],
  ['api/table-as-of/export', () => ({ table: 'public.orders', at, format: 'ndjson' })],
  ['api/table-as-of/export', () => ({ table: 'public.orders', at, format: 'csv', key: '2' })],
  ['api/field-history', () => ({ table: 'public.orders', key: '1', field: 'status' })],
  ['api/blame', () => ({ table: 'public.orders', key: '1' })],
  ['api/deleted', () => ({ table: 'public.orders' })],
  ['api/requests', () => ({})],
  ['api/actors', () => ({ q: 'ali' })],
  ['api/actors/u-alice', () => ({})],
  ['api/integrity', () => ({})],
];

const WRITES: [string, () => unknown][] = [
  ['api/revert', () => ({ change, dryRun: true })],
  ['api/restore', () => ({ table: 'public.orders', key: '1', at, dryRun: true })],
  ['api/undelete', () => ({ table: 'public.orders', key: 40, dryRun: true })],
  ['api/undo', () => ({ txid, dryRun: true })],
];

beforeAll(async () => {
  setUp = role.openPool({ max: 1 });
  await grantLogReads(db, role);
  await setUp.query('CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL)');
  await createAuditrum({ pool: db.pool, partitions: false }).track('public.orders');
  createAuditrum({ pool: setUp, partitions: false });
  const alice = { id: 'u-alice', label: 'alice@example.com' };
  await withAuditContext({ actor: alice, source: 'http' }, async () => {
    await setUp.query(`INSERT INTO orders SELECT g, 'draft' FROM generate_series(1, 40) g`);
    at = new Date().toISOString();
    await setUp.query(`UPDATE orders SET status = 'paid' WHERE id <= 3`);
    await setUp.query('DELETE FROM orders WHERE id = 40');
  });
  const ids = await db.pool.query<{ operation: string; id: string; txid: string }>(
    `SELECT operation, max(id)::text AS id, max(txid)::text AS txid FROM auditrum.changes GROUP BY operation`,
  );
  const byOperation = new Map(ids.rows.map((row) => [row.operation, row]));
  change = byOperation.get('UPDATE')?.id as string;
  txid = byOperation.get('UPDATE')?.txid as string;
});

afterAll(async () => {
  await setUp?.end();
  expect(errors).toEqual([]);
});

describe.each([1, 2])('the admin on a pool of %i', (max) => {
  let pool: pg.Pool;
  let admin: AdminHandler<User>;

  beforeAll(() => {
    pool = role.openPool({ max });
    admin = createAdminRoutes<User>({
      pool,
      authorize: () => true,
      authorizeWrite: () => true,
      actor: (req) => ({ id: `admin-${req.user}` }),
      onError: (error) => errors.push(error),
    });
  });

  afterAll(async () => {
    await pool?.end();
  });

  /** Each route alone, its status and body: what it must still answer when others run at once. */
  async function alone(): Promise<Map<string, Answer>> {
    const answers = new Map<string, Answer>();
    for (const [path, query] of READS) {
      const name = `${path} ${JSON.stringify(query())}`;
      answers.set(name, await answered(name, answer(admin, path, query())));
    }
    for (const [path, body] of WRITES) {
      const name = `${path} ${JSON.stringify(body())}`;
      answers.set(name, await answered(name, answer(admin, path, {}, body())));
    }
    return answers;
  }

  it('answers every route three at a time, an export read slowly among them, as each answers alone', async () => {
    const expected = await alone();
    const failed = [...expected].filter(([, [status]]) => status !== 200);
    expect(failed).toEqual([]);
    const slowQuery = { table: 'public.orders', at, format: 'ndjson' };
    const slowName = `api/table-as-of/export ${JSON.stringify(slowQuery)}`;
    for (const [path, query] of READS) {
      const name = `${path} ${JSON.stringify(query())}`;
      const [slow, ...others] = await answered(
        name,
        Promise.all([
          answer(admin, 'api/table-as-of/export', slowQuery, undefined, true),
          ...[0, 1, 2].map(() => answer(admin, path, query())),
        ]),
      );
      expect(normalised(slowName, slow)).toEqual(normalised(slowName, expected.get(slowName) as Answer));
      for (const other of others) {
        expect([name, ...normalised(name, other)]).toEqual([name, ...normalised(name, expected.get(name) as Answer)]);
      }
    }
    for (const [path, body] of WRITES) {
      const name = `${path} ${JSON.stringify(body())}`;
      const all = await answered(name, Promise.all([0, 1, 2].map(() => answer(admin, path, {}, body()))));
      for (const each of all) expect([name, ...each]).toEqual([name, ...(expected.get(name) as Answer)]);
    }
    await expectPoolAtRest(pool, max);
  });

  it('gives every connection back when exports are left unread or stopped mid-way, and answers after them', async () => {
    // Left unread, stopped in its first page, stopped in the middle of the rebuild (COPY): more than the pool holds.
    for (const linesRead of [0, 1, 12, 0, 1, 12]) {
      const response = await answered(
        'export',
        call(admin, 'api/table-as-of/export', { table: 'public.orders', at, format: 'ndjson' }),
      );
      expect(response.status).toBe(200);
      const lines = (response.body as AsyncIterable<string>)[Symbol.asyncIterator]();
      for (let read = 0; read < linesRead; read++) expect((await lines.next()).done).toBe(false);
      await lines.return?.(undefined);
    }
    expect((await answered('api/tables after', answer(admin, 'api/tables', {})))[0]).toBe(200);
    await expectPoolAtRest(pool, max);
  });
});

/** An answer to compare: a table as of a time export's rows after its first page come in no particular order. */
function normalised(name: string, [status, body]: Answer): Answer {
  return [status, name.includes('table-as-of/export') ? body.split('\n').sort().join('\n') : body];
}

async function expectPoolAtRest(pool: pg.Pool, max: number): Promise<void> {
  // (A discarded connection goes back in its own time: under load more than expect.poll's default second.)
  await expect.poll(() => [pool.waitingCount, pool.totalCount - pool.idleCount], { timeout: 15_000 }).toEqual([0, 0]);
  expect(pool.totalCount).toBeLessThanOrEqual(max);
  // A discarded connection's backend shows as it was (idle in transaction) until it has read the closed socket.
  await expect
    .poll(
      async () =>
        (
          await db.pool.query<{ state: string; n: number }>(
            `SELECT state, count(*)::int AS n FROM pg_stat_activity
             WHERE datname = current_database() AND usename = $1 AND state <> 'idle' GROUP BY state`,
            [role.name],
          )
        ).rows,
      { timeout: 15_000 },
    )
    .toEqual([]);
}
