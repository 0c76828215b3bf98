import { createAuditrum } from '@auditrum/core';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consecutiveJoined, mergeNearest, overlapsJoined, TransactionBlocks } from '../src/admin/transaction-blocks.js';
import { committed, loggedIds, mountedPageIds, summaryPageIds } from './transaction-pages.js';

// The transaction page's bounds from the admin's summary of transactions (transaction-blocks.ts), on a log never
// sealed: blocks of 4 ids here, so that a few dozen changes span many blocks. Transactions interleave; one stays open
// while pages are read (its ids must not be summarized before it ends), spans blocks, and writes again afterwards;
// rows carrying a txid of a later xid epoch sit beside one whose low 32 bits are the same. Every page must hold every
// change of its transaction and nothing else. The application's non-superuser role owns the table, writes, and is
// the admin's pool.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let blocks: TransactionBlocks;
const txids: Record<'first' | 'open' | 'during' | 'epoch' | 'later', string> = {
  first: '',
  open: '',
  during: '',
  epoch: '',
  later: '',
};
/** Transactions committed while `open` was open, in order. */
const between: string[] = [];

/** The transaction page's ids, with the summary of 4-id blocks. */
function pageIds(txid: string): Promise<string[]> {
  return summaryPageIds(app, blocks, txid);
}

beforeAll(async () => {
  app = role.openPool({ max: 3 });
  await grantLogReads(db, role);
  await app.query('CREATE TABLE items (id int PRIMARY KEY, note text)');
  await createAuditrum({ pool: db.pool, partitions: false }).track('public.items');
  createAuditrum({ pool: app, partitions: false });
  blocks = new TransactionBlocks(app, '"auditrum"', 4n);
  txids.first = await committed(app, [`INSERT INTO items SELECT g, 'n' FROM generate_series(1, 6) g`]);
});

afterAll(async () => {
  await app.end();
});

describe('the transaction page within the blocks of the admin’s summary', () => {
  it('never summarizes the ids of a transaction still open, and finds all its changes once it ends', async () => {
    const open = await app.connect();
    try {
      await open.query('BEGIN');
      await open.query(`UPDATE items SET note = 'open 1' WHERE id = 1`);
      const { rows } = await open.query<{ txid: string; id: string }>(
        'SELECT txid_current()::text AS txid, max(c.id)::text AS id FROM auditrum.changes c WHERE c.txid = txid_current()',
      );
      txids.open = rows[0]?.txid as string;
      const firstOpenId = BigInt(rows[0]?.id as string);
      for (let i = 2; i <= 6; i++) {
        between.push(await committed(app, [`UPDATE items SET note = 'between ${i}' WHERE id = ${i}`]));
        // Pages read while the transaction is open: the summary grows, but not over its ids.
        expect(await pageIds(between.at(-1) as string)).toEqual(await loggedIds(db.pool, between.at(-1) as string));
      }
      // Its change is not visible yet, and the ids from its first on are not summarized.
      expect(await pageIds(txids.open)).toEqual([]);
      expect(BigInt((await blocks.rangesOf(txids.open)).after)).toBeLessThan(firstOpenId);
      // It writes again, blocks later, while others commit.
      await open.query(`UPDATE items SET note = 'open 2' WHERE id IN (3, 5)`);
      txids.during = await committed(app, [`DELETE FROM items WHERE id = 6`, `INSERT INTO items VALUES (7, 'n')`]);
      expect(await pageIds(txids.during)).toEqual(await loggedIds(db.pool, txids.during));
      await open.query('COMMIT');
    } finally {
      open.release();
    }
    txids.later = await committed(app, [`UPDATE items SET note = 'later'`]);
    const openIds = await loggedIds(db.pool, txids.open);
    expect(openIds.length).toBe(3);
    expect(await pageIds(txids.open)).toEqual(openIds);
    expect(await mountedPageIds(app, txids.open)).toEqual(openIds);
  });

  it('lists every change of each transaction and nothing else, the summary now over every id', async () => {
    // A txid of a later epoch (xid8: epoch × 2^32 + xid) whose low 32 bits are the first transaction's xid.
    txids.epoch = String((3n << 32n) + BigInt(txids.first));
    const { rows: items } = await db.pool.query<{ id: number }>(
      `SELECT id FROM auditrum.tracked_tables WHERE table_name = 'items'`,
    );
    await db.pool.query(
      `INSERT INTO auditrum.changes (txid, table_id, operation, row_key, old_values, new_values)
       SELECT $1::bigint, $2, 'UPDATE', g::text, '{"note": "n"}', '{"note": "epoch"}' FROM generate_series(1, 2) g`,
      [txids.epoch, items[0]?.id],
    );
    for (const txid of [...Object.values(txids), ...between]) {
      const expected = await loggedIds(db.pool, txid);
      expect(expected.length).toBeGreaterThan(0);
      expect({ txid, ids: await pageIds(txid) }).toEqual({ txid, ids: expected });
      expect({ txid, ids: await mountedPageIds(app, txid) }).toEqual({ txid, ids: expected });
    }
    expect((await loggedIds(db.pool, txids.epoch)).length).toBe(2);
    expect(await pageIds('9223372036854775807')).toEqual([]);
  });

  it('bounds a transaction to the blocks whose txids span it, and every change lies within', async () => {
    const { rows } = await db.pool.query<{ max: string }>('SELECT max(id)::text AS max FROM auditrum.changes');
    const last = BigInt(rows[0]?.max as string);
    for (const txid of [txids.first, ...between]) {
      const { ranges, after } = await blocks.rangesOf(txid);
      // All ended: every id is summarized, and the transaction is read in its blocks, not the whole log.
      expect(BigInt(after)).toBe(last);
      const width = ranges.reduce((sum, r) => sum + (BigInt(r.to) - BigInt(r.from)), 0n);
      expect(width).toBeLessThan(last);
      for (const id of await loggedIds(db.pool, txid)) {
        const inside = ranges.some((r) => BigInt(id) > BigInt(r.from) && BigInt(id) <= BigInt(r.to));
        expect({ txid, id, inside }).toEqual({ txid, id, inside: true });
      }
    }
  });
});

describe('the id ranges of one query', () => {
  const range = (from: number, to: number) => ({ from: BigInt(from), to: BigInt(to) });

  it('merges the nearest ranges first, down to the most allowed, each id still covered', () => {
    const ranges = [range(0, 4), range(8, 12), range(100, 104), range(105, 110), range(400, 404)];
    expect(mergeNearest(ranges, 5)).toEqual(ranges);
    expect(mergeNearest(ranges, 4)).toEqual([range(0, 4), range(8, 12), range(100, 110), range(400, 404)]);
    expect(mergeNearest(ranges, 3)).toEqual([range(0, 12), range(100, 110), range(400, 404)]);
    expect(mergeNearest(ranges, 1)).toEqual([range(0, 404)]);
    expect(ranges[0]).toEqual(range(0, 4));
  });

  it('stays within the most allowed for many ranges with equal gaps', () => {
    const ranges = Array.from({ length: 5000 }, (_, i) => range(i * 10, i * 10 + 4));
    const merged = mergeNearest(ranges, 64);
    expect(merged.length).toBeLessThanOrEqual(64);
    expect(merged[0]?.from).toBe(0n);
    expect(merged.at(-1)?.to).toBe(49994n);
  });
});

describe('the indexed months the summary leaves out', () => {
  const month = (start: string, end: string) => ({ start: `${start}-01T00:00:00Z`, end: `${end}-01T00:00:00Z` });

  it('joins consecutive months into one run, in time order, and keeps a gap apart', () => {
    const months = [month('2026-10', '2026-11'), month('2026-07', '2026-08'), month('2026-09', '2026-10')];
    expect(consecutiveJoined(months)).toEqual([month('2026-07', '2026-08'), month('2026-09', '2026-11')]);
    expect(months[0]).toEqual(month('2026-10', '2026-11'));
    expect(consecutiveJoined([])).toEqual([]);
  });
});

describe('ranges that overlap', () => {
  const range = (from: number, to: number) => ({ from: BigInt(from), to: BigInt(to) });

  it('are joined, one inside another kept whole, ranges apart left apart', () => {
    expect(overlapsJoined([range(0, 8), range(2, 4), range(8, 12), range(20, 24), range(22, 30)])).toEqual([
      range(0, 12),
      range(20, 30),
    ]);
  });
});
