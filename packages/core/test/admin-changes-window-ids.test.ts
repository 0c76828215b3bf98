import { createAuditrum } from '@auditrum/core';
import type { ChangesResponse } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { windowIds } from '../src/admin/window-ids.js';
import { adminRead } from './admin-read.js';

// A window of time is read between the lowest and highest id of the hours it touches, from the month's summary
// (migrations 34 and 36, the current month's too) and the changes made since it. Every page must still hold exactly
// the changes made in the window: with a statement that began in the window and wrote after changes of later times
// (its rows have the window's time and larger ids), a change written to the month after its summary, and a
// transaction that took its id before a summary and committed during it or stayed open. Read as a non-superuser role
// granted only the log's tables (the summaries are readable by every role that may use the schema).
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let tableId: number;
/** The first instant of the month two months before this one (UTC), as ISO text. */
let base: string;

const schema = { schemaSql: '"auditrum"' };

/** An instant `offset` (an interval) after the start of the month two months back, as the API takes it. */
async function at(offset: string): Promise<string> {
  const { rows } = await db.pool.query<{ at: string }>(
    `SELECT to_char(($1::timestamptz + $2::interval) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at`,
    [base, offset],
  );
  return rows[0]?.at as string;
}

/** Logs one change of `items` per offset, in this order (ids from the log's sequence), with `actor`; their ids. */
async function write(offsets: string[], actor = 'u1', client: pg.Pool | pg.PoolClient = db.pool): Promise<number[]> {
  const ids: number[] = [];
  for (const offset of offsets) {
    const { rows } = await client.query<{ id: number }>(
      `INSERT INTO auditrum.changes (changed_at, txid, table_id, operation, row_key, old_values, new_values, actor_id)
       VALUES ($1::timestamptz + $2::interval, txid_current(), $3, 'UPDATE', '1', '{"status": "open"}',
         '{"status": "paid"}', $4) RETURNING id::int AS id`,
      [base, offset, tableId, actor],
    );
    ids.push(rows[0]?.id as number);
  }
  return ids;
}

/** The ids of every page of the changes list, following its cursor to the end. */
async function everyId(query: Record<string, string>): Promise<number[]> {
  const ids: number[] = [];
  let cursor: string | null = null;
  do {
    const next: ChangesResponse = await adminRead(app, 'api/changes', cursor === null ? query : { ...query, cursor });
    ids.push(...next.items.map((item) => Number(item.id)));
    cursor = next.nextCursor;
  } while (cursor !== null);
  return ids;
}

/** The ids of the changes made from `from` up to `to` (and by `actor`), newest first, read without the admin. */
async function expected(from: string, to: string, actor?: string): Promise<number[]> {
  const { rows } = await db.pool.query<{ id: number }>(
    `SELECT id::int AS id FROM auditrum.changes
     WHERE changed_at >= $1 AND changed_at < $2 AND ($3::text IS NULL OR actor_id = $3) ORDER BY id DESC`,
    [from, to, actor ?? null],
  );
  return rows.map((row) => row.id);
}

/** Every page of the window, newest first, a page of one and of 200, with an actor too, as the log has them. */
async function expectWindow(from: string, to: string): Promise<void> {
  const ids = await expected(from, to);
  expect(ids.length).toBeGreaterThan(0);
  expect(await everyId({ from, to, limit: '1' })).toEqual(ids);
  expect(await everyId({ from, to, limit: '200' })).toEqual(ids);
  expect(await everyId({ from, to, actor: 'u2', limit: '2' })).toEqual(await expected(from, to, 'u2'));
}

/** The ids the summary of the month `offset` after the month two months back counts up to. */
async function counted(offset: string): Promise<number | undefined> {
  const { rows } = await db.pool.query<{ settled: number }>(
    'SELECT settled_ids::int AS settled FROM auditrum.month_ids WHERE lower = $1::timestamptz + $2::interval',
    [base, offset],
  );
  return rows[0]?.settled;
}

async function ensurePartitions(): Promise<void> {
  await db.pool.query('SELECT auditrum.ensure_partitions()');
}

/**
 * On `writer`, a transaction takes an id in the window at `offsets[0]` and stays open; a later change (a larger id) at
 * `offsets[1]` is committed. The summary then waits for the open transaction, a second at most, and is not made (the
 * summary of the month `month` after the month two months back counts what it did): the window's changes above the ids
 * it counts are read, the committed one, and the open one is not visible. Returns the two ids.
 */
async function openAcrossSummary(
  writer: pg.PoolClient,
  [from, to]: [string, string],
  month: string,
  offsets: [string, string],
): Promise<{ open: number; committed: number }> {
  await writer.query('BEGIN');
  const [open] = await write([offsets[0]], 'u2', writer);
  const [committed] = await write([offsets[1]]);
  const before = await counted(month);
  await ensurePartitions();
  expect(await counted(month)).toBe(before);
  expect(await windowIds({ ...schema, pool: app }, from, to)).toEqual({
    first: String((await expected(from, to)).at(-1)),
    last: String(committed),
  });
  expect(await everyId({ from, to })).toEqual(await expected(from, to));
  expect((await everyId({ from, to })).includes(open as number)).toBe(false);
  return { open: open as number, committed: committed as number };
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  await grantLogReads(db, role);
  await db.pool.query('CREATE TABLE items (id int PRIMARY KEY, status text)');
  const { rows } = await db.pool.query<{ base: string }>(
    `SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') - interval '2 months', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS base`,
  );
  base = rows[0]?.base as string;
  await createAuditrum({ pool: db.pool, partitions: false }).track('items');
  const table = await db.pool.query<{ id: number }>(
    `SELECT id FROM auditrum.tracked_tables WHERE table_name = 'items'`,
  );
  tableId = table.rows[0]?.id as number;
  // The two months before this one, as ensure_partitions() made them then.
  for (const back of [2, 1]) {
    await db.pool.query(
      `DO $$ DECLARE m timestamp := date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => ${back});
       BEGIN EXECUTE format('CREATE TABLE auditrum.%I PARTITION OF auditrum.changes FOR VALUES FROM (%L) TO (%L)',
         'changes_p' || to_char(m, 'YYYY_MM'), m::text || '+00', (m + interval '1 month')::text || '+00'); END $$`,
    );
  }
  // A change every 7 hours through both months (u2's every third), then, in order: on the 3rd, a change at 10:30,
  // one at 11:30 and one at 09:30; one at 10:59:59.999; one on the 5th; then a statement that began at 10:00 and
  // wrote last, and one at 11:00 (the window's end, not in it).
  for (let hour = 0; hour < 24 * 58; hour += 7) await write([`${hour} hours`], hour % 3 === 0 ? 'u2' : 'u1');
  await write(['2 days 10:30', '2 days 11:30', '2 days 09:30', '2 days 10:59:59.999', '4 days', '2 days 10:00']);
  await write(['2 days 11:00', '2 days 10:15'], 'u2');
});

afterAll(async () => {
  await app.end();
});

describe('api/changes from+to in a month that has ended', () => {
  it('reads between the ids of the hours the window touches, the same changes as the log has', async () => {
    const [from, to] = [await at('2 days 10:00'), await at('2 days 11:00')];
    expect(await windowIds({ ...schema, pool: app }, from, to)).toBeUndefined();
    await ensurePartitions();
    const inHour = await db.pool.query<{ first: string; last: string }>(
      `SELECT min(id)::text AS first, max(id)::text AS last FROM auditrum.changes
       WHERE changed_at >= $1 AND changed_at < $2`,
      [from, to],
    );
    // The hour's changes: the first at 10:30, the last the statement that began at 10:00.
    expect(await windowIds({ ...schema, pool: app }, from, to)).toEqual(inHour.rows[0]);
    await expectWindow(from, to);
    // Part of an hour, across two months, a whole month, a window with no change.
    await expectWindow(await at('2 days 10:20'), await at('2 days 10:40'));
    await expectWindow(await at('30 days'), await at('32 days'));
    await expectWindow(base, await at('1 month'));
    // No change between 12:00 and 13:00 on the 3rd.
    const [none, noneTo] = [await at('2 days 12:10'), await at('2 days 12:50')];
    expect(await windowIds({ ...schema, pool: app }, none, noneTo)).toEqual({ first: '1', last: '0' });
    expect(await everyId({ from: none, to: noneTo })).toEqual([]);
    // Without a start: from the log's start, the oldest month summarized.
    const before = await at('1 month 5 days 10:30');
    expect(await windowIds({ ...schema, pool: app }, undefined, before)).toEqual({
      first: String((await expected('-infinity', before)).at(-1)),
      last: String((await expected('-infinity', before))[0]),
    });
    expect(await everyId({ to: before, limit: '200' })).toEqual(await expected('-infinity', before));
  });

  it('reads the log whole for a window reaching before the summarized months', async () => {
    expect(await windowIds({ ...schema, pool: app }, await at('-1 day'), await at('1 day'))).toBeUndefined();
    await expectWindow(await at('-1 day'), await at('1 day'));
    // A change older than the oldest month summarized (in the default partition) leaves a window without a start
    // unbounded.
    const to = await at('1 month 5 days');
    const [old] = await write(['-1 year']);
    try {
      expect(await windowIds({ ...schema, pool: app }, undefined, to)).toBeUndefined();
      expect(await everyId({ to, limit: '200' })).toEqual(await expected('-infinity', to));
      expect((await everyId({ to, limit: '200' }))[0]).toBe(old);
    } finally {
      await db.pool.query('DELETE FROM auditrum.changes WHERE id = $1', [old]);
    }
  });

  it('reads a change that comes to a month after its summary above the ids it counts, then from the next', async () => {
    const [from, to] = [await at('2 days 10:00'), await at('2 days 11:00')];
    const [late] = await write(['2 days 10:45']);
    expect(await windowIds({ ...schema, pool: app }, from, to)).toEqual({
      first: String((await expected(from, to)).at(-1)),
      last: String(late),
    });
    expect((await everyId({ from, to })).includes(late as number)).toBe(true);
    await expectWindow(from, to);
    await ensurePartitions();
    expect(await counted('0')).toBeGreaterThanOrEqual(late as number);
    expect(await windowIds({ ...schema, pool: app }, from, to)).toEqual({
      first: String((await expected(from, to)).at(-1)),
      last: String(late),
    });
    await expectWindow(from, to);
  });

  it('summarizes a month only once every transaction that holds a smaller id has ended', async () => {
    const [from, to] = [await at('2 days 10:00'), await at('2 days 11:00')];
    const writer = await db.pool.connect();
    try {
      const { open, committed } = await openAcrossSummary(writer, [from, to], '0', ['2 days 10:50', '2 days 10:55']);
      // It commits while the next summary waits for it: the summary counts its change.
      const summary = ensurePartitions();
      await new Promise((resolve) => setTimeout(resolve, 200));
      await writer.query('COMMIT');
      await summary;
      expect(await windowIds({ ...schema, pool: app }, from, to)).toEqual({
        first: String((await expected(from, to)).at(-1)),
        last: String(committed),
      });
      expect((await everyId({ from, to })).slice(0, 2)).toEqual([committed, open]);
      await expectWindow(from, to);
    } finally {
      await writer.query('ROLLBACK').catch(() => undefined);
      writer.release();
    }
  });
});

describe('api/changes from+to in the current month', () => {
  it('reads between the ids of its summary and those of the changes since, whatever order they came in', async () => {
    // On the current month's 2nd: changes at 10:30 and 12:00, summarized; then one at 10:40 and one at 09:00.
    const [from, to] = [await at('2 months 1 day 10:00'), await at('2 months 1 day 11:00')];
    const [summarized] = await write(['2 months 1 day 10:30', '2 months 1 day 12:00']);
    await ensurePartitions();
    expect(await counted('2 months')).toBeGreaterThanOrEqual((summarized as number) + 1);
    const [since] = await write(['2 months 1 day 10:40', '2 months 1 day 09:00']);
    expect(await windowIds({ ...schema, pool: app }, from, to)).toEqual({
      first: String(summarized),
      last: String(since),
    });
    await expectWindow(from, to);
    // Across the previous month's end, the whole month so far, and a window without a start.
    await expectWindow(await at('1 month 25 days'), await at('2 months 1 day 10:35'));
    await expectWindow(await at('2 months'), await at('3 months'));
    // (up to the change at 09:00, written last)
    expect(await windowIds({ ...schema, pool: app }, undefined, to)).toEqual({
      first: String((await expected('-infinity', to)).at(-1)),
      last: String((since as number) + 1),
    });
    expect(await everyId({ to, limit: '200' })).toEqual(await expected('-infinity', to));
  });

  it('reads a change whose transaction stays open across a summary once it commits, and sums it up then', async () => {
    const [from, to] = [await at('2 months 1 day 10:00'), await at('2 months 1 day 11:00')];
    const writer = await db.pool.connect();
    try {
      const { open, committed } = await openAcrossSummary(writer, [from, to], '2 months', [
        '2 months 1 day 10:50',
        '2 months 1 day 10:55',
      ]);
      // Committed, it is read above the ids the summary counts before the next summary, and counted by it after.
      await writer.query('COMMIT');
      expect((await everyId({ from, to })).slice(0, 2)).toEqual([committed, open]);
      await ensurePartitions();
      expect(await counted('2 months')).toBeGreaterThanOrEqual(committed);
      expect(await windowIds({ ...schema, pool: app }, from, to)).toEqual({
        first: String((await expected(from, to)).at(-1)),
        last: String(committed),
      });
      await expectWindow(from, to);
    } finally {
      await writer.query('ROLLBACK').catch(() => undefined);
      writer.release();
    }
  });
});
