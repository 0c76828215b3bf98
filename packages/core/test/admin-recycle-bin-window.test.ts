import { createAuditrum } from '@auditrum/core';
import type { AdminHandler, DeletedRowsResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deletedRows } from '../src/history/restore/deleted-rows.js';
import { RestoreError } from '../src/history/restore/restore-error.js';

/**
 * `api/deleted` reads the current month's changes newest first, a bounded number of them a page (then says how far it
 * searched), and the ended months in widening time windows (from the previous month's start, …) instead of merging a
 * backward walk of every monthly partition: the page must still be the newest by change id, also when a DELETE
 * logged with an older time has a larger id (a statement that began before the window or the month), and pages must
 * follow each other without a gap or a repeat, wherever a bound stops a page. As a non-superuser application role that
 * owns its tables.
 */

const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let admin: AdminHandler<null>;
const errors: unknown[] = [];

/** The bin's keys, every page of `limit` rows of deletedRows() with this search limit, following `next` to the end. */
async function everyKey(limit: number, searchLimit: number): Promise<{ keys: string[]; shortPages: number }> {
  const keys: string[] = [];
  let shortPages = 0;
  let before: string | undefined;
  for (let pages = 0; pages < 200; pages++) {
    const bin = await deletedRows(app, 'auditrum', {
      table: 'public.bin',
      limit,
      searchLimit,
      ...(before ? { before } : {}),
    });
    keys.push(...bin.rows.map((row) => row.rowKey));
    if (bin.searchedTo !== undefined) {
      shortPages++;
      expect(bin.rows.length).toBeLessThan(limit);
      expect(bin.next).not.toBeNull();
    }
    if (bin.next === null) return { keys, shortPages };
    before = bin.next;
  }
  throw new Error('the bin did not end');
}

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

  it("pages the bin newest id first with a bound on the current month's changes read, wherever it stops", async () => {
    for (const searchLimit of [1, 2, 3, 5, 8, 13]) {
      for (const limit of [1, 2, 3]) {
        const { keys, shortPages } = await everyKey(limit, searchLimit);
        expect({ searchLimit, limit, keys }).toEqual({
          searchLimit,
          limit,
          keys: ['8', '7', '6', '5', '4', '3', '2', '1'],
        });
        if (searchLimit < 5) expect(shortPages).toBeGreaterThan(0);
      }
    }
  });

  it('refuses a search limit that is not a whole number of at least 1, with a clear error', async () => {
    for (const searchLimit of [0, -1, 1.5, Number.NaN]) {
      const error = await deletedRows(app, 'auditrum', { table: 'public.bin', searchLimit }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RestoreError);
      expect((error as Error).message).toContain(
        `the search limit must be a whole number of at least 1, not ${searchLimit}`,
      );
    }
  });

  it("says how far back a page of the admin searched when the current month's changes it may read run out", async () => {
    // 60,000 changes of other keys, newer than every DELETE: a first page reads 50,000 of them.
    await db.pool.query(
      `INSERT INTO auditrum.changes (changed_at, txid, table_id, operation, row_key, new_values)
       SELECT now(), txid_current(), t.id, 'INSERT', 'x' || g, '{}'
       FROM auditrum.tracked_tables t CROSS JOIN generate_series(1, 60000) g WHERE t.table_name = 'bin'`,
    );
    const first = await page();
    expect(first.items).toEqual([]);
    expect(first.nextCursor).not.toBeNull();
    const { rows } = await db.pool.query<{ at: Date }>(
      `SELECT changed_at AS at FROM auditrum.changes ORDER BY id DESC OFFSET 49999 LIMIT 1`,
    );
    expect(first.searchedTo).toBe(rows[0]?.at.toISOString());
    const second = await page(first.nextCursor as string);
    expect(second.items.map((row) => row.rowKey)).toEqual(['8', '7', '6']);
    expect(second.searchedTo).toBeUndefined();
  });

  it('pages a bin of more DELETEs in the ended months than it sorts at once, newest id first, to the end', async () => {
    // 10,050 DELETEs 40 days back (an ended month), every fifth key inserted again since (not in the bin), logged in
    // shuffled id order against their times.
    await app.query('CREATE TABLE bin2 (id int PRIMARY KEY)');
    await db.pool.query(`SELECT auditrum.track('public.bin2')`);
    await db.pool.query(
      `INSERT INTO auditrum.changes (changed_at, txid, table_id, operation, row_key, old_values)
       SELECT now() - interval '40 days' + make_interval(secs => (g * 7919) % 10050), txid_current(), t.id, 'DELETE',
         g::text, jsonb_build_object('id', g)
       FROM auditrum.tracked_tables t CROSS JOIN generate_series(1, 10050) g WHERE t.table_name = 'bin2'`,
    );
    await app.query('INSERT INTO bin2 SELECT g FROM generate_series(5, 10050, 5) g');
    const { rows } = await db.pool.query<{ key: string }>(
      `SELECT c.row_key AS key FROM auditrum.changes c JOIN auditrum.tracked_tables t ON t.id = c.table_id
       WHERE t.table_name = 'bin2' AND c.operation = 'DELETE'
         AND NOT EXISTS (SELECT FROM auditrum.changes l WHERE l.table_id = c.table_id AND l.row_key = c.row_key AND l.id > c.id)
       ORDER BY c.id DESC`,
    );
    expect(rows).toHaveLength(8040);
    const keys: string[] = [];
    let before: string | null | undefined;
    do {
      const bin = await deletedRows(app, 'auditrum', {
        table: 'public.bin2',
        limit: 1000,
        ...(before ? { before } : {}),
      });
      keys.push(...bin.rows.map((row) => row.rowKey));
      before = bin.next;
    } while (before !== null);
    expect(keys).toEqual(rows.map((row) => row.key));
  });
});
