import { createAuditrum } from '@auditrum/core';
import type { HistoryResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `api/history` pages both ways: `nextCursor` to the older versions, `newer` back to the newer ones (the admin's
 * Previous/Next), on a real database as a non-superuser application role that owns its tables.
 */

const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
const errors: unknown[] = [];

async function page(query: Record<string, string>): Promise<HistoryResponse> {
  const admin = createAdminRoutes({ pool: app, authorize: () => true, onError: (e) => errors.push(e) });
  const response = await admin({
    method: 'GET',
    path: 'api/history',
    query: new URLSearchParams({ table: 'public.notes', key: '1', limit: '3', ...query }),
    headers: {},
    basePath: '/audit-admin',
    raw: {},
  });
  if (response.status !== 200) throw new Error(String(response.body));
  return JSON.parse(response.body as string) as HistoryResponse;
}

const texts = (history: HistoryResponse) => history.versions.map((version) => version.state?.body);

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  app.on('error', () => undefined);
  await grantLogReads(db, role);
  await app.query('CREATE TABLE notes (id int PRIMARY KEY, body text)');
  await createAuditrum({ pool: db.pool, partitions: false }).track('public.notes');
  await app.query(`INSERT INTO notes VALUES (1, 'v1')`);
  for (let version = 2; version <= 7; version++) await app.query(`UPDATE notes SET body = 'v${version}' WHERE id = 1`);
});

afterAll(async () => {
  await app?.end();
  expect(errors).toEqual([]);
});

describe('api/history newer pages', () => {
  it('leads from each older page back to the next newer one, and from the newest to none', async () => {
    const newest = await page({});
    expect(texts(newest)).toEqual(['v5', 'v6', 'v7']);
    expect(newest.newer).toBeNull();
    const middle = await page({ cursor: newest.nextCursor as string });
    expect(texts(middle)).toEqual(['v2', 'v3', 'v4']);
    // The page after it is the newest one, asked for without a cursor.
    expect(middle.newer).toEqual({ cursor: null });
    const oldest = await page({ cursor: middle.nextCursor as string });
    expect(texts(oldest)).toEqual(['v1']);
    expect(oldest.nextCursor).toBeNull();
    expect(oldest.newer?.cursor).toEqual(expect.any(String));
    const back = await page({ cursor: oldest.newer?.cursor as string });
    expect(texts(back)).toEqual(texts(middle));
    expect(back.firstNumber).toBe(2);
  });

  it('gives the newer page of a page ending at a change (through)', async () => {
    const newest = await page({});
    const third = newest.versions[0]?.change.id as string;
    const through = await page({ through: third, limit: '1' });
    expect(texts(through)).toEqual(['v5']);
    expect(through.newer?.cursor).toEqual(expect.any(String));
    expect(texts(await page({ cursor: through.newer?.cursor as string, limit: '1' }))).toEqual(['v6']);
  });
});
