import type { RequestsResponse } from '@auditrum/core/admin';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TESTED_LIMITS } from '../src/admin/requests-api.js';
import { adminRead } from './admin-read.js';

// The API log's `path`, `method` and `status` filters have no index: a page reads at most TESTED_LIMITS.first calls (a
// later one TESTED_LIMITS.budget) and says how far back it searched when that ran out before the page was full. The
// log here: 25,000 GETs answered 200, three to /orders/77 among the oldest 5,000, two among the newest 10,000, one to
// /orders/770 in between, a DELETE answered 404 among the newest and one among the oldest; 22,000 of the calls up to
// 23,000 (all but every 23rd) by u-busy. Read as a non-superuser role that may read the API log.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
const TOTAL = 25_000;

function page(query: Record<string, string>): Promise<RequestsResponse> {
  return adminRead(app, 'api/requests', query);
}

const requestIds = (response: RequestsResponse) => response.items.map((item) => item.requestId);

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  await db.pool.query(
    `GRANT SELECT ON auditrum.tracked_tables, auditrum.changes, auditrum.api_requests TO ${pg.escapeIdentifier(role.name)}`,
  );
  // Call n is made n ms after the first; the paths named by call number.
  await db.pool.query(
    `INSERT INTO auditrum.api_requests (requested_at, request_id, actor_id, method, path, status, duration_ms)
     SELECT now() - interval '1 hour' + g * interval '1 millisecond', 'call-' || g,
       CASE WHEN g <= 23000 AND g % 23 <> 0 THEN 'u-busy' END,
       CASE WHEN g IN (20, 22000) THEN 'DELETE' ELSE 'GET' END,
       CASE WHEN g IN (10, 2000, 4000, 21000, 24000) THEN '/orders/77'
            WHEN g = 12000 THEN '/orders/770' ELSE '/health' END, CASE WHEN g IN (20, 22000) THEN 404 ELSE 200 END, 1
     FROM generate_series(1, $1::int) g ORDER BY g`,
    [TOTAL],
  );
  expect(TESTED_LIMITS.first).toBeLessThan(TOTAL - 12_000);
  expect(TESTED_LIMITS.budget).toBeGreaterThan(TOTAL);
});

afterAll(async () => {
  await app.end();
});

describe('api/requests?path, ?method and ?status, without an index', () => {
  it('reads the newest calls only for the first page, says how far back, and goes on with its cursor', async () => {
    const first = await page({ path: '/orders/77' });
    expect(requestIds(first)).toEqual(['call-24000', 'call-21000']);
    const oldestRead = TOTAL - TESTED_LIMITS.first + 1;
    const { rows } = await db.pool.query<{ at: string }>(
      `SELECT to_char(requested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at
       FROM auditrum.api_requests WHERE request_id = $1`,
      [`call-${oldestRead}`],
    );
    expect(first.searchedTo).toBe(rows[0]?.at);
    expect(first.nextCursor).not.toBeNull();
    const second = await page({ path: '/orders/77', cursor: first.nextCursor as string });
    expect(requestIds(second)).toEqual(['call-12000', 'call-4000', 'call-2000', 'call-10']);
    expect(second.searchedTo).toBeUndefined();
    expect(second.nextCursor).toBeNull();
  });

  it('pages as usual when the page fills within what it read', async () => {
    const first = await page({ path: '/orders/77', limit: '1' });
    expect(requestIds(first)).toEqual(['call-24000']);
    expect(first.searchedTo).toBeUndefined();
    // A page with a cursor reads up to TESTED_LIMITS.budget calls: here the rest of the log.
    const second = await page({ path: '/orders/77', limit: '2', cursor: first.nextCursor as string });
    expect(requestIds(second)).toEqual(['call-21000', 'call-12000']);
    expect(second.searchedTo).toBeUndefined();
    const third = await page({ path: '/orders/77', limit: '2', cursor: second.nextCursor as string });
    expect(requestIds(third)).toEqual(['call-4000', 'call-2000']);
    const last = await page({ path: '/orders/77', limit: '2', cursor: third.nextCursor as string });
    expect(requestIds(last)).toEqual(['call-10']);
    expect(last.nextCursor).toBeNull();
  });

  it("reads no more of an actor's calls on a later page than on the first (a heap page each)", async () => {
    // u-busy's newest 10,000 calls reach down to about 12,500, the next 10,000 to about 2,100.
    const pages = [await page({ path: '/orders/77', actor: 'u-busy' })];
    for (let cursor = pages[0]?.nextCursor; cursor; cursor = pages.at(-1)?.nextCursor) {
      pages.push(await page({ path: '/orders/77', actor: 'u-busy', cursor }));
    }
    expect(pages.map((p) => requestIds(p))).toEqual([
      ['call-21000'],
      ['call-12000', 'call-4000'],
      ['call-2000', 'call-10'],
    ]);
    expect(pages.map((p) => p.searchedTo !== undefined)).toEqual([true, true, false]);
  });

  it('a prefix found nowhere: an empty first page that says so, then the end; the other filters unchanged', async () => {
    const first = await page({ path: '/nowhere' });
    expect(first.items).toEqual([]);
    expect(first.searchedTo).toBeDefined();
    const second = await page({ path: '/nowhere', cursor: first.nextCursor as string });
    expect(second).toEqual({ items: [], nextCursor: null });
    const plain = await page({ limit: '3' });
    expect(requestIds(plain)).toEqual(['call-25000', 'call-24999', 'call-24998']);
    expect(plain.searchedTo).toBeUndefined();
    expect(requestIds(await page({ path: '/orders/77', status: '200', from: afterEveryCall() }))).toEqual([]);
  });

  it('a method or a status few calls have: the same bound, the same calls a query without the admin gives', async () => {
    for (const filter of [
      { method: 'delete' },
      { status: '404' },
      { status: '4xx' },
      { method: 'DELETE', status: '404' },
    ]) {
      const first = await page(filter);
      expect(requestIds(first), JSON.stringify(filter)).toEqual(['call-22000']);
      expect(first.searchedTo).toBeDefined();
      const second = await page({ ...filter, cursor: first.nextCursor as string });
      expect(second).toEqual({
        items: [expect.objectContaining({ requestId: 'call-20', method: 'DELETE', status: 404 })],
        nextCursor: null,
      });
    }
    // Found nowhere, and a method most calls have: the whole log in two pages, a page at once.
    for (const filter of [
      { method: 'POST' },
      { status: '201' },
      { status: 'aborted' },
      { method: 'DELETE', status: '200' },
    ]) {
      const first = await page(filter);
      expect(first.items).toEqual([]);
      expect(await page({ ...filter, cursor: first.nextCursor as string })).toEqual({ items: [], nextCursor: null });
    }
    const gets = await page({ method: 'GET', status: '2xx', limit: '3' });
    expect(requestIds(gets)).toEqual(['call-25000', 'call-24999', 'call-24998']);
    expect(gets.searchedTo).toBeUndefined();
    const { rows } = await db.pool.query<{ request_id: string }>(
      `SELECT request_id FROM auditrum.api_requests WHERE path LIKE '/orders/77%' AND status = 200 ORDER BY id DESC`,
    );
    const pages = [await page({ path: '/orders/77', status: '200', limit: '1' })];
    for (let cursor = pages[0]?.nextCursor; cursor; cursor = pages.at(-1)?.nextCursor) {
      pages.push(await page({ path: '/orders/77', status: '200', limit: '1', cursor }));
    }
    expect(pages.flatMap(requestIds)).toEqual(rows.map((row) => row.request_id));
  });
});

/** A time after every call: the from filter then leaves nothing to read. */
function afterEveryCall(): string {
  return new Date(Date.now() + 3_600_000).toISOString();
}
