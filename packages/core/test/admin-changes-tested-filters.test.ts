import { createAuditrum } from '@auditrum/core';
import type { ChangesResponse } from '@auditrum/core/admin';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FILTER_LIMITS } from '../src/admin/bounded-search.js';
import { adminRead } from './admin-read.js';

// The changes list's `column` filter, and its `source` filter without the optional source index, have no index: a
// page reads at most FILTER_LIMITS.first changes that match the other filters (a later one FILTER_LIMITS.budget),
// tests each, and says how far back it searched when that ran out before the page was full. The log here: 25,000
// UPDATEs of `status`, one a millisecond, change n with id n; changes 10, 2,000, 4,000, 21,000 and 24,000 changed
// `discount` too and came from a migration, 12,000 changed `discount` in a job; change 24,000 was made by u-rare, and
// 22,000 of the changes up to 23,000 (all but every 23rd) by u-busy. Read as a non-superuser role that may read the
// log.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
const TOTAL = 25_000;
const MARKED = [10, 2000, 4000, 21_000, 24_000];

function page(query: Record<string, string>): Promise<ChangesResponse> {
  return adminRead(app, 'api/changes', query);
}

const ids = (response: ChangesResponse) => response.items.map((item) => Number(item.id));

/** The ids of the log's changes that match `where`, newest first, read without the admin. */
async function expected(where: string): Promise<number[]> {
  const { rows } = await db.pool.query<{ id: number }>(
    `SELECT id::int AS id FROM auditrum.changes c WHERE ${where} ORDER BY id DESC`,
  );
  return rows.map((row) => row.id);
}

/** When change `id` was made, as a page's `searchedTo` gives it. */
async function timeOf(id: number): Promise<string> {
  const { rows } = await db.pool.query<{ at: string }>(
    `SELECT to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at FROM auditrum.changes
     WHERE id = $1`,
    [id],
  );
  return rows[0]?.at as string;
}

/** Every page of a list, following its cursor to the end. */
async function everyPage(query: Record<string, string>): Promise<ChangesResponse[]> {
  const pages = [await page(query)];
  for (let cursor = pages[0]?.nextCursor; cursor; cursor = pages.at(-1)?.nextCursor) {
    pages.push(await page({ ...query, cursor }));
  }
  return pages;
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  await db.pool.query('CREATE TABLE items (id int PRIMARY KEY, status text, discount int)');
  await createAuditrum({ pool: db.pool, partitions: false }).track('items');
  await db.pool.query(`GRANT SELECT ON auditrum.tracked_tables, auditrum.changes TO ${pg.escapeIdentifier(role.name)}`);
  await db.pool.query(
    `INSERT INTO auditrum.changes (id, changed_at, txid, table_id, operation, row_key, old_values, new_values, actor_id,
       context)
     SELECT g, now() - interval '1 hour' + g * interval '1 millisecond', 1000 + g,
       (SELECT id FROM auditrum.tracked_tables WHERE table_name = 'items'), 'UPDATE', (g % 100)::text,
       '{"status": "open"}', '{"status": "paid"}'::jsonb || CASE WHEN g = ANY ($2::int[]) THEN '{"discount": 5}'::jsonb ELSE '{}'::jsonb END,
       CASE WHEN g = 24000 THEN 'u-rare' WHEN g <= 23000 AND g % 23 <> 0 THEN 'u-busy' ELSE 'u-' || (g % 7) END,
       jsonb_build_object('source', CASE WHEN g = ANY ($3::int[]) THEN 'migration' WHEN g = 12000 THEN 'job' ELSE 'http' END)
     FROM generate_series(1, $1::int) g ORDER BY g`,
    [TOTAL, [...MARKED, 12_000], MARKED],
  );
  expect(FILTER_LIMITS.first).toBeLessThan(TOTAL - 12_000);
  expect(FILTER_LIMITS.budget).toBeGreaterThan(TOTAL);
});

afterAll(async () => {
  await app.end();
});

describe('api/changes?column, ?source without an index, ?operation', () => {
  it('reads the newest changes only for the first page, says how far back, and goes on with its cursor', async () => {
    // The first page reads changes 25,000 down to 15,001.
    for (const [filter, older] of [
      [{ column: 'discount' }, [12_000, 4000, 2000, 10]],
      [{ source: 'migration' }, [4000, 2000, 10]],
    ] as const) {
      const first = await page(filter);
      expect(ids(first)).toEqual([24_000, 21_000]);
      expect(first.searchedTo).toBe(await timeOf(TOTAL - FILTER_LIMITS.first + 1));
      const second = await page({ ...filter, cursor: first.nextCursor as string });
      expect(ids(second)).toEqual(older);
      expect(second.searchedTo).toBeUndefined();
      expect(second.nextCursor).toBeNull();
    }
  });

  it("reads no more of an actor's changes on a later page than on the first (a heap page each)", async () => {
    // u-busy's newest 10,000 changes reach down to about 12,500, the next 10,000 to about 2,100.
    const pages = await everyPage({ column: 'discount', actor: 'u-busy' });
    expect(pages.map((p) => ids(p))).toEqual([[21_000], [12_000, 4000], [2000, 10]]);
    expect(pages.map((p) => p.searchedTo !== undefined)).toEqual([true, true, false]);
    expect(pages.at(-1)?.nextCursor).toBeNull();
  });

  it('tests an INSERT, UPDATE or DELETE filter on the changes the primary key walk reads', async () => {
    // No DELETE: the first page reads 10,000 changes, not the log.
    const first = await page({ operation: 'DELETE' });
    expect(ids(first)).toEqual([]);
    expect(first.searchedTo).toBe(await timeOf(TOTAL - FILTER_LIMITS.first + 1));
    expect((await everyPage({ operation: 'DELETE' })).flatMap((p) => ids(p))).toEqual([]);
    const updates = await page({ operation: 'UPDATE', table: 'public.items', limit: '3' });
    expect(ids(updates)).toEqual([25_000, 24_999, 24_998]);
    expect(updates.searchedTo).toBeUndefined();
  });

  it('gives the rows a query without the admin gives, page after page, with no gaps and no duplicates', async () => {
    const discount = `operation = 'UPDATE' AND new_values ? 'discount'`;
    const cases: [Record<string, string>, string][] = [
      [{ column: 'discount', limit: '2' }, discount],
      [{ column: 'status', limit: '7' }, `new_values ? 'status'`],
      [{ source: 'migration', limit: '2' }, `context ->> 'source' = 'migration'`],
      [{ source: 'job' }, `context ->> 'source' = 'job'`],
      [{ column: 'discount', source: 'migration', actor: 'u-rare' }, `${discount} AND actor_id = 'u-rare'`],
      [{ column: 'discount', actor: 'u-3' }, `${discount} AND actor_id = 'u-3'`],
      [{ column: 'discount', key: '0' }, `${discount} AND row_key = '0'`],
      [{ column: 'discount', actor: 'u-busy', limit: '1' }, `${discount} AND actor_id = 'u-busy'`],
      [{ operation: 'UPDATE', limit: '200' }, 'true'],
      [{ source: 'db' }, 'false'],
      // The operation is tested with them (a batch that read for it walked every month for a first one).
      [{ column: 'discount', operation: 'UPDATE', limit: '2' }, discount],
      [{ source: 'migration', operation: 'DELETE' }, 'false'],
      [{ q: 'paid', operation: 'INSERT' }, 'false'],
      [{ q: 'paid', operation: 'UPDATE', actor: 'u-rare' }, `actor_id = 'u-rare'`],
    ];
    for (const [query, where] of cases) {
      const pages = await everyPage(query);
      expect(
        pages.flatMap((p) => ids(p)),
        JSON.stringify(query),
      ).toEqual(await expected(where));
      const size = Number(query.limit ?? 50);
      // A page stops short only when it says how far back it searched.
      for (const p of pages.slice(0, -1)) expect(p.items.length === size || p.searchedTo !== undefined).toBe(true);
    }
    // A page that fills within what it read pages as usual.
    const full = await page({ column: 'status', limit: '3' });
    expect(ids(full)).toEqual([25_000, 24_999, 24_998]);
    expect(full.searchedTo).toBeUndefined();
  });

  it('a source the optional index serves is read through it: one page, nothing left to search', async () => {
    await db.pool.query(
      `CREATE INDEX changes_source_idx ON auditrum.changes ((coalesce(context ->> 'source', 'db')), id)
         WHERE coalesce(context ->> 'source', 'db') NOT IN ('http', 'app')`,
    );
    try {
      const all = await page({ source: 'migration' });
      expect(ids(all)).toEqual([24_000, 21_000, 4000, 2000, 10]);
      expect(all.searchedTo).toBeUndefined();
      expect(all.nextCursor).toBeNull();
      // The column still has no index.
      expect((await page({ column: 'discount' })).searchedTo).toBeDefined();
      // With an actor, the source is tested on the actor's changes (a source the actor's changes lack would visit
      // every change of the source in its index).
      const busy = await everyPage({ source: 'migration', actor: 'u-busy' });
      expect(ids(busy[0] as ChangesResponse)).toEqual([21_000]);
      expect(busy[0]?.searchedTo).toBeDefined();
      expect(busy.flatMap((p) => ids(p))).toEqual(
        await expected(`context ->> 'source' = 'migration' AND actor_id = 'u-busy'`),
      );
    } finally {
      await db.pool.query('DROP INDEX auditrum.changes_source_idx');
    }
  });
});
