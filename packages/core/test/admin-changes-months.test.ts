import { createAuditrum } from '@auditrum/core';
import type { ChangesResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logMonths } from '../src/admin/month-walk.js';
import { adminRead } from './admin-read.js';

// The changes list walks the primary key a month at a time (month-walk.ts): a month without a match is read only when
// the newer ones did not fill the page. Every page must still be the newest changes by id, with the months ahead (a
// clock ahead), a change logged with its month's time but a larger id than the next month's (a statement that began
// before the month's end), and a change in the default partition (then the log is read in one query). The log: in
// each of the three months before this one and this one, UPDATEs of `items`, DELETEs in some months only. Read as a
// non-superuser role that may read the log.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;

function page(query: Record<string, string>): Promise<ChangesResponse> {
  return adminRead(app, 'api/changes', query);
}

/** The ids of every page of a list, following its cursor to the end. */
async function everyId(query: Record<string, string>): Promise<number[]> {
  const ids: number[] = [];
  let cursor: string | null = null;
  do {
    const next: ChangesResponse = await page(cursor === null ? query : { ...query, cursor });
    ids.push(...next.items.map((item) => Number(item.id)));
    cursor = next.nextCursor;
  } while (cursor !== null);
  return ids;
}

/** The ids of the log's changes that match `where`, newest first, read without the admin. */
async function expected(where: string): Promise<number[]> {
  const { rows } = await db.pool.query<{ id: number }>(
    `SELECT id::int AS id FROM auditrum.changes c WHERE ${where} ORDER BY id DESC`,
  );
  return rows.map((row) => row.id);
}

/** The first instant of the month `back` months before this one (UTC), as the API takes it. */
async function monthStart(back: number): Promise<string> {
  const { rows } = await db.pool.query<{ at: string }>(
    `SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => $1),
       'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at`,
    [back],
  );
  return rows[0]?.at as string;
}

/** Writes changes `first`..`last` with `operation`, made `back` months before this one plus `offset`. */
async function write(first: number, last: number, operation: string, back: number, offset = "interval '1 day'") {
  await db.pool.query(
    `INSERT INTO auditrum.changes (id, changed_at, txid, table_id, operation, row_key, old_values, new_values, context)
     SELECT g, (date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => $3)) AT TIME ZONE 'UTC'
         + ${offset} + g * interval '1 second', 1000 + g, (SELECT id FROM auditrum.tracked_tables WHERE table_name = 'items'),
       $4, g::text, '{"status": "open"}', CASE WHEN $4 = 'UPDATE' THEN '{"status": "paid"}'::jsonb END, '{"source": "job"}'
     FROM generate_series($1::int, $2::int) g`,
    [first, last, back, operation],
  );
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  await grantLogReads(db, role);
  await db.pool.query('CREATE TABLE items (id int PRIMARY KEY, status text)');
  await createAuditrum({ pool: db.pool, partitions: false }).track('items');
  // Partitions of the three months before this one, this one and the next (the migration made these), as
  // ensure_partitions() makes them.
  for (let back = 3; back >= -1; back--) {
    await db.pool.query(
      `DO $$ DECLARE m timestamp := date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => ${back});
       BEGIN EXECUTE format('CREATE TABLE IF NOT EXISTS auditrum.%I PARTITION OF auditrum.changes FOR VALUES FROM (%L) TO (%L)',
         'changes_p' || to_char(m, 'YYYY_MM'), m::text || '+00', (m + interval '1 month')::text || '+00'); END $$`,
    );
  }
  await write(1, 300, 'UPDATE', 3);
  await write(301, 302, 'DELETE', 3);
  await write(303, 600, 'UPDATE', 2);
  await write(601, 900, 'UPDATE', 1);
  await write(901, 901, 'DELETE', 1);
  await write(902, 1000, 'UPDATE', 0, "interval '0 days'");
  await write(1001, 1003, 'DELETE', 0, "interval '0 days'");
  // Logged with the last second of the month before this one, with a larger id than this month's changes.
  await write(1004, 1004, 'DELETE', 0, "interval '-1005 seconds'");
  // Logged in the next month (a clock ahead).
  await write(1005, 1005, 'DELETE', -1);
});

afterAll(async () => {
  await app.end();
});

describe('api/changes, a month at a time', () => {
  it('pages every filter the primary key serves as one query over the log would', async () => {
    // Read a month at a time: the months ahead the migration made, this one and the three before, newest first.
    const months = await logMonths({ pool: app, schemaSql: '"auditrum"' });
    const starts: string[] = [];
    for (const back of [-3, -2, -1, 0, 1, 2, 3]) starts.push((await monthStart(back)).replace('Z', '.000000Z'));
    expect(months?.map((month) => month.lower)).toEqual(starts);
    const cases: [Record<string, string>, string][] = [
      [{ operation: 'DELETE', limit: '2' }, `operation = 'DELETE'`],
      [{ operation: 'DELETE' }, `operation = 'DELETE'`],
      [{ limit: '200' }, 'true'],
      [{ operation: 'UPDATE', limit: '120' }, `operation = 'UPDATE'`],
      [{ table: 'public.items', operation: 'DELETE', limit: '1' }, `operation = 'DELETE'`],
      [
        { operation: 'DELETE', from: await monthStart(1), limit: '1' },
        `operation = 'DELETE' AND changed_at >= '${await monthStart(1)}'`,
      ],
      [
        { operation: 'DELETE', from: await monthStart(3), to: await monthStart(0), limit: '1' },
        `operation = 'DELETE' AND changed_at >= '${await monthStart(3)}' AND changed_at < '${await monthStart(0)}'`,
      ],
      [{ to: await monthStart(2), limit: '100' }, `changed_at < '${await monthStart(2)}'`],
      [{ operation: 'INSERT' }, 'false'],
    ];
    for (const [query, where] of cases) {
      expect({ query, ids: await everyId(query) }).toEqual({ query, ids: await expected(where) });
    }
    // The newest DELETE by id is 1005 (next month), then 1004, logged in the month before this one.
    expect((await page({ operation: 'DELETE', limit: '3' })).items.map((item) => item.id)).toEqual([
      '1005',
      '1004',
      '1003',
    ]);
  });

  it('exports the same changes, batch after batch', async () => {
    const admin = createAdminRoutes({ pool: app, authorize: () => true });
    for (const [filter, where] of [
      [{}, 'true'],
      [{ operation: 'DELETE' }, `operation = 'DELETE'`],
    ] as const) {
      const query = new URLSearchParams({ ...filter, format: 'ndjson' });
      const response = await admin({
        method: 'GET',
        path: 'api/changes/export',
        query,
        headers: {},
        basePath: '',
        raw: null,
      });
      let text = '';
      for await (const chunk of response.body as AsyncIterable<string>) text += chunk;
      const ids = text
        .trimEnd()
        .split('\n')
        .map((line) => Number((JSON.parse(line) as { id: string }).id));
      expect(ids).toEqual(await expected(where));
    }
  });

  it('reads the log in one query when the default partition holds changes, with the same pages', async () => {
    await db.pool.query(`UPDATE auditrum.changes SET changed_at = '2000-01-15 00:00:00+00' WHERE id = 1002`);
    try {
      expect(await logMonths({ pool: app, schemaSql: '"auditrum"' })).toBeNull();
      expect(await everyId({ operation: 'DELETE', limit: '2' })).toEqual(await expected(`operation = 'DELETE'`));
      expect(await everyId({ limit: '200' })).toEqual(await expected('true'));
    } finally {
      await db.pool.query(`UPDATE auditrum.changes SET changed_at = now() WHERE id = 1002`);
    }
  });
});
