import { createAuditrum } from '@auditrum/core';
import type { ChangesResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransactionBlocks } from '../src/admin/transaction-blocks.js';
import { committed, loggedIds } from './transaction-pages.js';

// The summary of transactions ensure_partitions() keeps (migration 37): per block of 1,024 change ids the smallest
// and largest txid, for the settled ids. A new admin mount starts from it instead of reading the current month's
// (id, txid). Every page must still hold every change of its transaction and nothing else: transactions spread over
// several blocks, one still open while the summary is made (its ids are not settled: left to the mount), changes
// written after it, and a log emptied with its ids drawn again (the kept summary's newest change is gone: neither the
// admin nor the next ensure_partitions() goes on from it). The application's non-superuser role owns the table, writes,
// and is the admin's pool.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;

/** A transaction's changes as the pages of a newly mounted admin list them, following the cursor. */
async function listedIds(txid: string): Promise<string[]> {
  const admin = createAdminRoutes({ pool: app, authorize: () => true });
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const query: Record<string, string> = { txid, limit: '200', ...(cursor === null ? {} : { cursor }) };
    const response = await admin({
      method: 'GET',
      path: 'api/changes',
      query: new URLSearchParams(query),
      headers: {},
      basePath: '/audit-admin',
      raw: null,
    });
    const page = JSON.parse(String(response.body)) as ChangesResponse;
    ids.push(...page.items.map((change) => change.id));
    cursor = page.nextCursor;
  } while (cursor !== null);
  return ids;
}

/** Every transaction's pages, through a newly mounted admin, are its changes exactly. */
async function expectEveryPageExact(): Promise<void> {
  const { rows } = await db.pool.query<{ txid: string }>('SELECT DISTINCT txid::text AS txid FROM auditrum.changes');
  expect(rows.length).toBeGreaterThanOrEqual(4);
  for (const { txid } of rows) {
    expect({ txid, ids: await listedIds(txid) }).toEqual({ txid, ids: await loggedIds(db.pool, txid) });
  }
}

async function kept(): Promise<{ summarized_to: string; blocks: string }[]> {
  const { rows } = await db.pool.query<{ summarized_to: string; blocks: string }>(
    `SELECT k.summarized_to::text, (SELECT count(*) FROM auditrum.transaction_blocks)::text AS blocks
     FROM auditrum.transaction_blocks_kept k`,
  );
  return rows;
}

beforeAll(async () => {
  app = role.openPool({ max: 3 });
  await grantLogReads(db, role);
  await app.query('CREATE TABLE items (id int PRIMARY KEY, note text)');
  await createAuditrum({ pool: db.pool, partitions: false }).track('public.items');
  // Three transactions of 1,500 changes each, interleaved in the first two (ids drawn in turns), over five blocks.
  await committed(app, [`INSERT INTO items SELECT g, 'a' FROM generate_series(1, 1500) g`]);
  const left = await app.connect();
  const right = await app.connect();
  try {
    await left.query('BEGIN');
    await right.query('BEGIN');
    for (let round = 0; round < 3; round++) {
      await left.query(
        `UPDATE items SET note = 'l${round}' WHERE id BETWEEN ${round * 200 + 1} AND ${round * 200 + 200}`,
      );
      await right.query(
        `UPDATE items SET note = 'r${round}' WHERE id BETWEEN ${round * 200 + 801} AND ${round * 200 + 1000}`,
      );
    }
    await left.query('COMMIT');
    await right.query('COMMIT');
  } finally {
    left.release();
    right.release();
  }
});

afterAll(async () => {
  await app.end();
});

describe('the summary of transactions ensure_partitions() keeps', () => {
  it('is where a new mount starts, its pages exact, with a transaction open while it was made and changes after', async () => {
    const open = await app.connect();
    try {
      await open.query('BEGIN');
      await open.query(`UPDATE items SET note = 'open' WHERE id BETWEEN 1 AND 300`);
      // Written after the open transaction's ids: not settled while it is open.
      const after = await committed(app, [`UPDATE items SET note = 'after' WHERE id BETWEEN 1201 AND 1500`]);
      // Waits up to a second for the open transaction, then leaves the summary as it was (none yet).
      await db.pool.query('SELECT auditrum.ensure_partitions()');
      expect(await kept()).toEqual([]);
      await open.query('COMMIT');
      const { rows } = await db.pool.query<{ max: string }>('SELECT max(id)::text AS max FROM auditrum.changes');
      await db.pool.query('SELECT auditrum.ensure_partitions()');
      expect(await kept()).toEqual([{ summarized_to: rows[0]?.max, blocks: '4' }]);
      expect((await loggedIds(db.pool, after)).length).toBe(300);
    } finally {
      open.release();
    }
    await committed(app, [`UPDATE items SET note = 'later' WHERE id BETWEEN 100 AND 120`]);
    await expectEveryPageExact();
    // The mount's ranges are the kept ones: a block's span widened by hand shows in a new summary's ranges.
    const { rows: first } = await db.pool.query<{ txid: string }>(
      `SELECT txid::text FROM auditrum.changes WHERE id = 1`,
    );
    const txid = first[0]?.txid as string;
    expect((await new TransactionBlocks(app, '"auditrum"').rangesOf(txid)).ranges).toEqual([{ from: '0', to: '2048' }]);
    await db.pool.query(`UPDATE auditrum.transaction_blocks SET min_txid = $1::bigint WHERE block = 3`, [txid]);
    expect((await new TransactionBlocks(app, '"auditrum"').rangesOf(txid)).ranges).toEqual([
      { from: '0', to: '2048' },
      { from: '3072', to: '4096' },
    ]);
  });

  it('is left when the log was emptied and its ids drawn again, by the admin and by ensure_partitions()', async () => {
    await db.pool.query('SELECT auditrum.ensure_partitions()');
    const before = await kept();
    expect(before).toHaveLength(1);
    await db.pool.query('TRUNCATE auditrum.changes');
    await db.pool.query(`SELECT setval('auditrum.changes_id_seq', 1, false)`);
    // New transactions at the same ids: the kept blocks would name other transactions there.
    await committed(app, [`UPDATE items SET note = 'x' WHERE id BETWEEN 1 AND 1500`]);
    await committed(app, [`UPDATE items SET note = 'y' WHERE id BETWEEN 1 AND 1000`]);
    await committed(app, [`UPDATE items SET note = 'z' WHERE id BETWEEN 500 AND 1200`]);
    await committed(app, [`UPDATE items SET note = 'w' WHERE id = 7`]);
    expect(await kept()).toEqual(before);
    await expectEveryPageExact();
    const { rows } = await db.pool.query<{ max: string }>('SELECT max(id)::text AS max FROM auditrum.changes');
    await db.pool.query('SELECT auditrum.ensure_partitions()');
    expect(await kept()).toEqual([{ summarized_to: rows[0]?.max, blocks: '4' }]);
    await expectEveryPageExact();
  });
});
