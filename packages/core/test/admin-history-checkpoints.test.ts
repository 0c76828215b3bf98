import { createAuditrum } from '@auditrum/core';
import type { HistoryResponse } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRead } from './admin-read.js';

// The fold's state of a busy row that ensure_partitions() keeps every 1,000 versions (migration 40): a history page
// folds from the nearest kept state below it. Every page must be what the fold from the row's first change gives
// (read by the same role without the right to read the kept states): for a row whose history starts with UPDATEs
// (tracked after it existed), with a column added, a gap in tracking, a mask added, a DELETE and INSERT, a TRUNCATE of
// its table, its key changed away and back; then after each event that the kept states cannot follow (an erasure of
// some of its values, a purge of its first changes), before and after ensure_partitions() makes them again. The
// application's non-superuser role owns the table, writes and reads; the superuser keeps the partitions.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
const audit = () => createAuditrum({ pool: db.pool, partitions: false });

function history(query: Record<string, string>, pool = app): Promise<HistoryResponse> {
  return adminRead(pool, 'api/history', { table: 'public.counters', key: '1', ...query });
}

/** The row's changes and the table's TRUNCATEs, oldest first, with their times as the API takes them. */
async function logged(): Promise<{ id: string; at: string }[]> {
  const { rows } = await db.pool.query<{ id: string; at: string }>(
    `SELECT c.id::text AS id, to_char(c.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at
     FROM auditrum.changes c
     WHERE c.table_id = (SELECT id FROM auditrum.tracked_tables WHERE table_name = 'counters')
       AND (c.row_key = '1' OR c.operation = 'TRUNCATE') ORDER BY c.id`,
  );
  return rows;
}

async function keptStates(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM auditrum.history_checkpoints');
  return rows[0]?.n ?? 0;
}

/**
 * Pages around each kept state, the newest, and the state at times among the changes; `few`: a handful of them (the
 * fold from the first change, which they are compared with, takes a while for each).
 */
async function queries(few: boolean): Promise<Record<string, string>[]> {
  const changes = await logged();
  const { rows } = await db.pool.query<{ change_id: string }>(
    'SELECT change_id::text FROM auditrum.history_checkpoints ORDER BY change_id',
  );
  const near = rows.flatMap(({ change_id }) => {
    const i = changes.findIndex((c) => c.id === change_id);
    return [i, i + 1].filter((j) => j < changes.length);
  });
  const picks = few
    ? near.slice(1, 3)
    : [...new Set([0, 1, 1700, changes.length - 2, ...near])].filter((i) => i < changes.length);
  const list: Record<string, string>[] = few
    ? [{ limit: '3' }]
    : [{}, { limit: '1' }, { limit: '3' }, { limit: '200' }, { limit: '150' }];
  for (const i of picks) {
    const change = changes[i] as { id: string; at: string };
    const earlier = changes[Math.floor(i / 2)] as { at: string };
    list.push({ through: change.id, limit: '7' }, { at: change.at, limit: '2' });
    list.push({ through: change.id, at: earlier.at, limit: '4' });
  }
  if (!few) list.push({ at: '2000-01-01T00:00:00Z' }, { at: '2100-01-01T00:00:00Z', limit: '1' });
  return list;
}

/** Every query's page, then (unless `few`) its older page and its newer one, as the role reads them. */
async function pages(list: readonly Record<string, string>[], few: boolean): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const query of list) {
    const page = await history(query);
    const older = few || page.nextCursor === null ? null : await history({ cursor: page.nextCursor, limit: '5' });
    const newer = !few && page.newer?.cursor ? await history({ cursor: page.newer.cursor, limit: '5' }) : null;
    out.push({ query, page, older, newer });
  }
  return out;
}

/** The pages read with the kept states equal those read by the fold from the first change (the states not readable). */
async function expectPagesExact(few = true): Promise<void> {
  const list = await queries(few);
  await db.pool.query(`REVOKE SELECT ON auditrum.history_checkpoints FROM ${role.name}`);
  const whole = await pages(list, few);
  await db.pool.query(`GRANT SELECT ON auditrum.history_checkpoints TO ${role.name}`);
  const kept = await pages(list, few);
  expect(kept.length).toBe(whole.length);
  for (let i = 0; i < whole.length; i++) expect(kept[i]).toEqual(whole[i]);
}

async function ensurePartitions(): Promise<void> {
  await db.pool.query('SELECT auditrum.ensure_partitions()');
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  await grantLogReads(db, role);
  // The kept states hold only while no erasure or purge came since: a reader that may read both can tell.
  await db.pool.query(`GRANT SELECT ON auditrum.erasures, auditrum.erased_changes, auditrum.purges TO ${role.name}`);
  await app.query('CREATE TABLE counters (id int PRIMARY KEY, n int, note text)');
  // Inserted before tracking: the row's history starts with UPDATEs (incomplete until its INSERT).
  await app.query(`INSERT INTO counters VALUES (1, 0, 'a'), (2, 0, 'b')`);
  await audit().track('public.counters');
  await app.query(`DO $$ BEGIN FOR i IN 1..1500 LOOP
      UPDATE counters SET n = i WHERE id = 1;
      IF i % 7 = 0 THEN UPDATE counters SET note = 'note ' || i WHERE id = 1; END IF;
      IF i % 100 = 0 THEN UPDATE counters SET n = i WHERE id = 2; END IF;
    END LOOP; END $$`);
  await app.query('ALTER TABLE counters ADD COLUMN extra text');
  await app.query(`UPDATE counters SET extra = 'e', n = -1 WHERE id = 1`);
  await audit().untrack('public.counters');
  await app.query(`UPDATE counters SET note = 'unseen' WHERE id = 1`);
  await audit().track('public.counters', { mask: ['note'] });
  await app.query(
    `DO $$ BEGIN FOR i IN 1..400 LOOP UPDATE counters SET n = i, note = 'm' || i WHERE id = 1; END LOOP; END $$`,
  );
  await app.query('DELETE FROM counters WHERE id = 1');
  await app.query(`INSERT INTO counters VALUES (1, 7000, 'again', 'x')`);
  await app.query(`DO $$ BEGIN FOR i IN 7001..8200 LOOP UPDATE counters SET n = i WHERE id = 1; END LOOP; END $$`);
  await app.query('TRUNCATE counters');
  await app.query(`INSERT INTO counters VALUES (1, 9000, 'after', 'y'), (2, 0, 'b', null)`);
  await app.query('UPDATE counters SET id = 3 WHERE id = 1');
  await app.query('UPDATE counters SET id = 1, n = 9001 WHERE id = 3');
  await app.query(`DO $$ BEGIN FOR i IN 9002..10300 LOOP UPDATE counters SET n = i WHERE id = 1; END LOOP; END $$`);
  // The first 600 changes of the row two days old, for a purge to take.
  await db.pool.query(
    `UPDATE auditrum.changes SET changed_at = changed_at - interval '2 days'
     WHERE id <= (SELECT id FROM auditrum.changes WHERE row_key = '1'
                    AND table_id = (SELECT id FROM auditrum.tracked_tables WHERE table_name = 'counters')
                  ORDER BY id OFFSET 599 LIMIT 1)`,
  );
});

afterAll(async () => {
  await app?.end();
});

describe('api/history from the states ensure_partitions() keeps', () => {
  it('gives every page as the fold from the first change does', async () => {
    expect((await logged()).length).toBeGreaterThan(4500);
    await ensurePartitions();
    expect(await keptStates()).toBe(4);
    await expectPagesExact(false);
  });

  it('starts the newest page from the newest kept state', async () => {
    const before = await history({ limit: '3' });
    // A kept state that says 1,000 versions more than the log: the page numbers follow it.
    await db.pool.query('UPDATE auditrum.history_checkpoints SET versions = versions + 1000');
    expect((await history({ limit: '3' })).firstNumber).toBe(before.firstNumber + 1000);
    await db.pool.query('UPDATE auditrum.history_checkpoints SET versions = versions - 1000');
    expect(await history({ limit: '3' })).toEqual(before);
  });

  it('is exact after an erasure of some of its values, before and after the states are made again', async () => {
    // The column few versions hold (the row's INSERTs, the UPDATE that set it, the DELETE, the key changes): an erased
    // value in kept states' sources.
    await audit().erase({ subject: { table: 'public.counters', key: 1, columns: ['extra'] }, reason: 'ticket 15' });
    await expectPagesExact();
    await ensurePartitions();
    expect(await keptStates()).toBe(4);
    await expectPagesExact();
  });

  it('is exact after a purge of its first changes, before and after the states are made again', async () => {
    const before = (await logged()).length;
    await audit().purge({ olderThan: '1 day', logs: ['changes'] });
    expect((await logged()).length).toBe(before - 600);
    await expectPagesExact();
    await ensurePartitions();
    expect(await keptStates()).toBe(4);
    await expectPagesExact();
  });

  it('keeps the states on a pool of one while history pages wait for it', async () => {
    await app.query(`DO $$ BEGIN FOR i IN 1..1100 LOOP UPDATE counters SET n = i WHERE id = 1; END LOOP; END $$`);
    const one = role.openPool({ max: 1 });
    try {
      const reads = [history({ limit: '5' }, one), history({ limit: '5' }, one)];
      const [, ...read] = await Promise.all([one.query('SELECT auditrum.ensure_partitions()'), ...reads]);
      expect(await keptStates()).toBe(5);
      const after = await history({ limit: '5' }, one);
      for (const page of read) expect(page).toEqual(after);
      await expectPagesExact();
    } finally {
      await one.end();
    }
  });
});
