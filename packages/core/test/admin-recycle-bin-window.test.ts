import { createAuditrum } from '@auditrum/core';
import type { AdminHandler, DeletedRowsResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `api/deleted` looks for the newest DELETEs in widening time windows (from the current month's start, the previous
 * month's, …) instead of merging a
 * backward walk of every monthly partition: the page must still be the newest by change id, also when a DELETE
 * logged with an older time has a larger id (a statement that began before the window), and pages must follow each
 * other without a gap or a repeat. As a non-superuser application role that owns its tables.
 */

const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let admin: AdminHandler<null>;
const errors: unknown[] = [];

async function page(cursor?: string): Promise<DeletedRowsResponse> {
  const query = new URLSearchParams({ table: 'public.bin', limit: '3', ...(cursor ? { cursor } : {}) });
  const response = await admin({ method: 'GET', path: 'api/deleted', query, headers: {}, basePath: '', raw: null });
  if (response.status !== 200) throw new Error(String(response.body));
  return JSON.parse(response.body as string) as DeletedRowsResponse;
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  app.on('error', (error) => errors.push(error));
  await grantLogReads(db, role);
  await app.query('CREATE TABLE bin (id int PRIMARY KEY, v text)');
  await createAuditrum({ pool: db.pool, partitions: false }).track('public.bin');
  createAuditrum({ pool: app, partitions: false });
  await app.query(`INSERT INTO bin SELECT g, 'v' || g FROM generate_series(1, 8) g`);
  // Deleted long ago (ten days back, as a statement that began then would be logged), one by one.
  for (const id of [1, 2]) {
    await app.query('DELETE FROM bin WHERE id = $1', [id]);
    await db.pool.query(
      `UPDATE auditrum.changes SET changed_at = changed_at - interval '10 days'
       WHERE id = (SELECT max(id) FROM auditrum.changes)`,
    );
  }
  for (const id of [3, 4, 5, 6]) await app.query('DELETE FROM bin WHERE id = $1', [id]);
  // The newest by id, but logged with a time three days back: outside the first window.
  await app.query('DELETE FROM bin WHERE id = 7');
  await db.pool.query(
    `UPDATE auditrum.changes SET changed_at = changed_at - interval '3 days' WHERE id = (SELECT max(id) FROM auditrum.changes)`,
  );
  // The newest of all, logged with a time in an earlier month (32 days back, whatever today is): outside the window of
  // the current month.
  await app.query('DELETE FROM bin WHERE id = 8');
  await db.pool.query(
    `UPDATE auditrum.changes SET changed_at = changed_at - interval '32 days' WHERE id = (SELECT max(id) FROM auditrum.changes)`,
  );
  admin = createAdminRoutes({ pool: app, authorize: () => true, onError: (e) => errors.push(e) });
});

afterAll(async () => {
  await app?.end();
  expect(errors).toEqual([]);
});

describe('api/deleted, in widening time windows', () => {
  it('pages the bin newest id first, across windows, without a gap or a repeat', async () => {
    const keys: string[][] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 5; i++) {
      const answer = await page(cursor);
      keys.push(answer.items.map((row) => row.rowKey));
      if (answer.nextCursor === null) break;
      cursor = answer.nextCursor;
    }
    expect(keys).toEqual([
      ['8', '7', '6'],
      ['5', '4', '3'],
      ['2', '1'],
    ]);
  });
});
