import { createAuditrum } from '@auditrum/core';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransactionBlocks } from '../src/admin/transaction-blocks.js';
import { committed, loggedIds, mountedPageIds, summaryPageIds } from './transaction-pages.js';

// The txid index on the change log's ended months (migration 26; on (txid, id) since migration 39): ensure_partitions() makes it on each month that has
// ended, the admin's summary of transactions (transaction-blocks.ts) then leaves those months out and a page reads
// them by the index. Every page must hold every change of its transaction and nothing else, from a mount whose summary
// was built before the index and from one built after: transactions whose rows straddle the month's end (one open
// across midnight writes into both months), rows in the default partition, and an index built on a month while a
// transaction is still writing into it. Undoing a transaction finds the same rows. The application's non-superuser
// role owns the table, writes, and is the admin's pool.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let audit: ReturnType<typeof createAuditrum>;
/** Summaries of 4-id blocks: `before` built before the ended month got its index, `after` only after. */
let before: TransactionBlocks;
const txids: Record<'ended' | 'straddling' | 'defaulted' | 'everywhere' | 'current', string> = {
  ended: '',
  straddling: '',
  defaulted: '',
  everywhere: '',
  current: '',
};

/** The partition each of the transaction's changes is in, oldest first. */
async function partitionsOf(txid: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ part: string }>(
    'SELECT c.tableoid::regclass::text AS part FROM auditrum.changes c WHERE c.txid = $1::bigint ORDER BY c.id',
    [txid],
  );
  return rows.map((row) => row.part);
}

/** Every page of every transaction of the log, from summary `blocks` and from a new mount, is its changes exactly. */
async function expectEveryPageExact(blocks: TransactionBlocks): Promise<void> {
  const { rows } = await db.pool.query<{ txid: string }>('SELECT DISTINCT txid::text AS txid FROM auditrum.changes');
  expect(rows.length).toBeGreaterThanOrEqual(5);
  for (const { txid } of rows) {
    const expected = await loggedIds(db.pool, txid);
    expect({ txid, ids: await summaryPageIds(app, blocks, txid) }).toEqual({ txid, ids: expected });
    expect({ txid, ids: await mountedPageIds(app, txid) }).toEqual({ txid, ids: expected });
  }
}

/** The log's partition of the month `back` months before this one, and the month's first instant (UTC). */
async function month(back: number): Promise<{ partition: string; start: string }> {
  const { rows } = await db.pool.query<{ partition: string; start: string }>(
    `SELECT 'changes_p' || to_char(m, 'YYYY_MM') AS partition, to_char(m, 'YYYY-MM-DD') AS start
     FROM (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => $1) AS m) s`,
    [back],
  );
  return rows[0] as { partition: string; start: string };
}

/** The log's partitions with an index led by txid. */
async function txidIndexed(): Promise<string[]> {
  const { rows } = await db.pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
     WHERE h.inhparent = 'auditrum.changes'::regclass AND auditrum._txid_indexed(c.oid) ORDER BY 1`,
  );
  return rows.map((row) => row.name);
}

/** Moves the changes with these ids to the last millisecond of the month that ended, or into the year 2000. */
async function moveTo(where: 'ended' | 'default', ids: string[]): Promise<void> {
  const at =
    where === 'ended'
      ? `(SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') - interval '1 millisecond'`
      : `'2000-01-15 00:00:00+00'::timestamptz`;
  await db.pool.query(`UPDATE auditrum.changes SET changed_at = ${at} WHERE id = ANY ($1::bigint[])`, [ids]);
}

beforeAll(async () => {
  app = role.openPool({ max: 3 });
  await grantLogReads(db, role);
  await app.query('CREATE TABLE items (id int PRIMARY KEY, note text)');
  audit = createAuditrum({ pool: db.pool, partitions: false });
  await audit.track('public.items');
  createAuditrum({ pool: app, partitions: false });
  // The month that ended and this one (the maintainer is off: partitions: false).
  for (const back of [1, 0]) {
    const [m, next] = [await month(back), await month(back - 1)];
    await db.pool.query(
      `CREATE TABLE IF NOT EXISTS auditrum.${m.partition} PARTITION OF auditrum.changes
       FOR VALUES FROM ('${m.start} 00:00:00+00') TO ('${next.start} 00:00:00+00')`,
    );
  }
  before = new TransactionBlocks(app, '"auditrum"', 4n);
  // Wholly in the month that ended; across its end (the first statement before midnight, the next after); wholly in
  // the default partition; in all three; and in the current month, interleaved with each other.
  txids.ended = await committed(app, [`INSERT INTO items SELECT g, 'n' FROM generate_series(1, 3) g`]);
  txids.straddling = await committed(app, [
    `UPDATE items SET note = 'before midnight' WHERE id = 1`,
    `UPDATE items SET note = 'after midnight' WHERE id IN (2, 3)`,
  ]);
  txids.defaulted = await committed(app, [`INSERT INTO items SELECT g, 'd' FROM generate_series(10, 14) g`]);
  txids.current = await committed(app, [`UPDATE items SET note = 'now' WHERE id BETWEEN 10 AND 12`]);
  txids.everywhere = await committed(app, [
    `UPDATE items SET note = 'e1' WHERE id = 13`,
    `UPDATE items SET note = 'e2' WHERE id = 14`,
    `UPDATE items SET note = 'e3' WHERE id = 1`,
  ]);
  const [straddling, everywhere] = [
    await loggedIds(db.pool, txids.straddling),
    await loggedIds(db.pool, txids.everywhere),
  ];
  await moveTo('ended', [
    ...(await loggedIds(db.pool, txids.ended)),
    straddling.at(-1) as string,
    everywhere.at(-1) as string,
  ]);
  await moveTo('default', [...(await loggedIds(db.pool, txids.defaulted)), everywhere[1] as string]);
});

afterAll(async () => {
  await app.end();
});

describe('the transaction page with the ended months indexed by txid', () => {
  it('finds every change before and after ensure_partitions() indexes the month that ended', async () => {
    const [ended, current] = [await month(1), await month(0)];
    expect(await partitionsOf(txids.straddling)).toEqual([
      `auditrum.${ended.partition}`,
      `auditrum.${current.partition}`,
      `auditrum.${current.partition}`,
    ]);
    expect(await partitionsOf(txids.everywhere)).toEqual([
      `auditrum.${ended.partition}`,
      'auditrum.changes_default',
      `auditrum.${current.partition}`,
    ]);
    expect(new Set(await partitionsOf(txids.defaulted))).toEqual(new Set(['auditrum.changes_default']));
    // Before: the summary holds every month.
    await expectEveryPageExact(before);
    await db.pool.query('SELECT auditrum.ensure_partitions(1)');
    expect(await txidIndexed()).toEqual([ended.partition]);
    const { rows: index } = await db.pool.query<{ def: string }>(`SELECT pg_get_indexdef(to_regclass($1)) AS def`, [
      `auditrum.${ended.partition}_txid_id_idx`,
    ]);
    expect(index[0]?.def).toBe(
      `CREATE INDEX ${ended.partition}_txid_id_idx ON auditrum.${ended.partition} USING btree (txid, id)`,
    );
    // The summary built before goes on (its blocks cover that month too); new ones leave it out.
    await expectEveryPageExact(before);
    const after = new TransactionBlocks(app, '"auditrum"', 4n);
    await expectEveryPageExact(after);
    // A transaction wholly in the indexed month is read in its own first to last id, not in blocks of the summary.
    const endedIds = (await loggedIds(db.pool, txids.ended)).map(BigInt);
    const fresh = new TransactionBlocks(app, '"auditrum"', 4n);
    const { ranges } = await fresh.rangesOf(txids.ended);
    expect(ranges).toEqual([{ from: String((endedIds.at(-1) as bigint) - 1n), to: String(endedIds[0]) }]);
  });

  it('stays exact when the index is built on a month a transaction is still writing into', async () => {
    const current = await month(0);
    const open = await app.connect();
    const builder = await db.pool.connect();
    try {
      await open.query('BEGIN');
      await open.query(`UPDATE items SET note = 'open 1' WHERE id = 2`);
      const openTxid = (await open.query<{ txid: string }>('SELECT txid_current()::text AS txid')).rows[0]
        ?.txid as string;
      const beside = await committed(app, [`UPDATE items SET note = 'beside' WHERE id = 3`]);
      expect(await summaryPageIds(app, before, beside)).toEqual(await loggedIds(db.pool, beside));
      // The build waits for the open transaction's lock on the partition, which goes on writing there.
      const building = builder.query(
        `CREATE INDEX ${current.partition}_txid_idx ON auditrum.${current.partition} (txid)`,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      await open.query(`UPDATE items SET note = 'open 2' WHERE id IN (1, 12)`);
      expect(await summaryPageIds(app, before, openTxid)).toEqual([]);
      await open.query('COMMIT');
      await building;
      const openIds = await loggedIds(db.pool, openTxid);
      expect(openIds.length).toBe(3);
      expect(await summaryPageIds(app, before, openTxid)).toEqual(openIds);
      expect(await txidIndexed()).toEqual([(await month(1)).partition, current.partition]);
      await expectEveryPageExact(before);
      await expectEveryPageExact(new TransactionBlocks(app, '"auditrum"', 4n));
    } finally {
      open.release();
      builder.release();
    }
  });

  it('undoes a transaction whose changes straddle the month’s end and the default partition', async () => {
    const plan = await audit.undo({ txid: txids.everywhere }, { dryRun: true });
    expect(plan.plan.statements.map((s) => s.rowKey).sort()).toEqual(['1', '13', '14']);
    const straddling = await audit.undo({ txid: txids.straddling }, { dryRun: true });
    expect(straddling.plan.statements.map((s) => s.rowKey).sort()).toEqual(['1', '2', '3']);
  });
});
