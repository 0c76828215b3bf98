import { createAuditrum } from '@auditrum/core';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiContext } from '../src/admin/api-context.js';
import { listChanges } from '../src/admin/changes-api.js';
import { QueryParams } from '../src/admin/query-params.js';
import { TransactionBlocks } from '../src/admin/transaction-blocks.js';
import { committed, loggedIds, mountedPageIds } from './transaction-pages.js';

// The ended months' txid index on (txid, id) (migration 39): ensure_partitions() makes it on a month that has none and
// replaces version 26's (txid) one month a call, newest first, dropping the old one only when it gets the month's
// partition within a tenth of a second. The admin reads a month by (txid, id) in id order once it has that index and
// as before until then: every page, the later ones too, holds exactly the transaction's changes at every step, and
// the kept summary of transactions leaves the months out throughout. The application's non-superuser role owns the
// table, writes, and is the admin's pool.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let blocks: TransactionBlocks;
/** `big`: 120 changes a month back and 3 in this month; `older`: 30 changes two months back. */
const txids = { big: '', older: '' };

/** The log's partition of the month `back` months before this one, and the month's first instant (UTC). */
async function month(back: number): Promise<{ partition: string; start: string }> {
  const { rows } = await db.pool.query<{ partition: string; start: string }>(
    `SELECT 'changes_p' || to_char(m, 'YYYY_MM') AS partition, to_char(m, 'YYYY-MM-DD') AS start
     FROM (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => $1) AS m) s`,
    [back],
  );
  return rows[0] as { partition: string; start: string };
}

/** The definitions of the txid indexes of the month `back` months before this one. */
async function txidIndexes(back: number): Promise<string[]> {
  const { partition } = await month(back);
  const { rows } = await db.pool.query<{ def: string }>(
    `SELECT pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
     WHERE i.indrelid = to_regclass($1) AND pg_get_indexdef(i.indexrelid) LIKE '%(txid%' ORDER BY 1`,
    [`auditrum.${partition}`],
  );
  return rows.map((row) => row.def);
}

/** The transaction's page as `app` reads it with the summary, `limit` at a time (the later pages by their cursor). */
async function pagedIds(txid: string, limit: number): Promise<string[]> {
  const api: ApiContext = {
    pool: app,
    schema: 'auditrum',
    schemaSql: '"auditrum"',
    tables: [],
    tablesById: new Map(),
    scope: undefined,
    transactionBlocks: blocks,
  };
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const query: Record<string, string> = { txid, limit: String(limit), ...(cursor === null ? {} : { cursor }) };
    const page = await listChanges(api, new QueryParams(new URLSearchParams(query)));
    ids.push(...page.items.map((change) => change.id));
    cursor = page.nextCursor;
  } while (cursor !== null);
  return ids;
}

/** Every page of both transactions, 50 and 7 at a time and from a new mount (200), is its changes exactly. */
async function expectPagesExact(): Promise<void> {
  for (const txid of Object.values(txids)) {
    const expected = await loggedIds(db.pool, txid);
    for (const limit of [50, 7])
      expect({ txid, limit, ids: await pagedIds(txid, limit) }).toEqual({ txid, limit, ids: expected });
    expect({ txid, ids: await mountedPageIds(app, txid) }).toEqual({ txid, ids: expected });
  }
}

/** The months the kept summary of transactions leaves out (read by their txid index). */
async function keptIndexedFrom(): Promise<string[]> {
  const { rows } = await db.pool.query<{ start: string }>(
    `SELECT to_char(f AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS start
     FROM auditrum.transaction_blocks_kept k CROSS JOIN LATERAL unnest(k.indexed_from) f ORDER BY 1`,
  );
  return rows.map((row) => row.start);
}

beforeAll(async () => {
  app = role.openPool({ max: 3 });
  await grantLogReads(db, role);
  await app.query('CREATE TABLE items (id int PRIMARY KEY, note text)');
  await createAuditrum({ pool: db.pool, partitions: false }).track('public.items');
  createAuditrum({ pool: app, partitions: false });
  for (const back of [2, 1, 0]) {
    const [m, next] = [await month(back), await month(back - 1)];
    await db.pool.query(
      `CREATE TABLE IF NOT EXISTS auditrum.${m.partition} PARTITION OF auditrum.changes
       FOR VALUES FROM ('${m.start} 00:00:00+00') TO ('${next.start} 00:00:00+00')`,
    );
  }
  txids.older = await committed(app, [`INSERT INTO items SELECT g, 'o' FROM generate_series(1001, 1030) g`]);
  await committed(app, [`UPDATE items SET note = 'between' WHERE id <= 1005`]);
  txids.big = await committed(app, [
    `INSERT INTO items SELECT g, 'n' FROM generate_series(1, 120) g`,
    `UPDATE items SET note = 'later' WHERE id IN (1, 2, 1001)`,
  ]);
  await committed(app, [`UPDATE items SET note = 'after' WHERE id <= 5`]);
  const big = await loggedIds(db.pool, txids.big);
  // The INSERT's 120 changes a month back, the UPDATE's 3 now; the older transaction two months back.
  for (const [back, ids] of [
    [1, big.slice(3)],
    [2, await loggedIds(db.pool, txids.older)],
  ] as const) {
    await db.pool.query(
      `UPDATE auditrum.changes SET changed_at = (date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')
         - make_interval(months => $1) + interval '3 days' WHERE id = ANY ($2::bigint[])`,
      [back, ids],
    );
  }
  // The ended months indexed as version 26 left them: on (txid) alone.
  for (const back of [2, 1]) {
    const { partition } = await month(back);
    await db.pool.query(`CREATE INDEX ${partition}_txid_idx ON auditrum.${partition} (txid)`);
  }
  blocks = new TransactionBlocks(app, '"auditrum"');
});

afterAll(async () => {
  await app.end();
});

describe('the ended months indexed by (txid, id)', () => {
  it('replaces one month’s (txid) index a call, newest first, the pages exact at each step', async () => {
    const [two, one] = [await month(2), await month(1)];
    const old = (m: { partition: string }) =>
      `CREATE INDEX ${m.partition}_txid_idx ON auditrum.${m.partition} USING btree (txid)`;
    const byId = (m: { partition: string }) =>
      `CREATE INDEX ${m.partition}_txid_id_idx ON auditrum.${m.partition} USING btree (txid, id)`;
    expect((await blocks.rangesOf(txids.big)).ordered).toEqual([]);
    await expectPagesExact();

    await db.pool.query('SELECT auditrum.ensure_partitions(1)');
    expect(await txidIndexes(1)).toEqual([byId(one)]);
    expect(await txidIndexes(2)).toEqual([old(two)]);
    expect(await keptIndexedFrom()).toEqual([two.start, one.start]);
    expect((await blocks.rangesOf(txids.big)).ordered).toEqual([
      { start: `${one.start}T00:00:00Z`, end: `${(await month(0)).start}T00:00:00Z` },
    ]);
    expect((await blocks.rangesOf(txids.older)).ordered).toEqual([]);
    await expectPagesExact();

    await db.pool.query('SELECT auditrum.ensure_partitions(1)');
    expect(await txidIndexes(2)).toEqual([byId(two)]);
    expect(await txidIndexes(1)).toEqual([byId(one)]);
    expect(await keptIndexedFrom()).toEqual([two.start, one.start]);
    expect((await blocks.rangesOf(txids.older)).ordered).toEqual([
      { start: `${two.start}T00:00:00Z`, end: `${one.start}T00:00:00Z` },
    ]);
    await expectPagesExact();
  });

  it('leaves the old index to the next call while a reader holds the month, and a host’s own txid index alone', async () => {
    const one = await month(1);
    // Back to version 26's index on the month a back, then a reader of it in an open transaction.
    await db.pool.query(`DROP INDEX auditrum.${one.partition}_txid_id_idx`);
    await db.pool.query(`CREATE INDEX ${one.partition}_txid_idx ON auditrum.${one.partition} (txid)`);
    const reader = await app.connect();
    try {
      await reader.query('BEGIN');
      await reader.query(`SELECT count(*) FROM auditrum.changes WHERE txid = $1::bigint`, [txids.big]);
      const started = Date.now();
      await db.pool.query('SELECT auditrum.ensure_partitions(1)');
      expect(Date.now() - started).toBeLessThan(5000);
      expect(await txidIndexes(1)).toEqual([
        `CREATE INDEX ${one.partition}_txid_id_idx ON auditrum.${one.partition} USING btree (txid, id)`,
        `CREATE INDEX ${one.partition}_txid_idx ON auditrum.${one.partition} USING btree (txid)`,
      ]);
      await expectPagesExact();
    } finally {
      await reader.query('COMMIT');
      reader.release();
    }
    // The drop's lock_timeout is its own: the caller's transaction goes on with its setting.
    const maintainer = await db.pool.connect();
    try {
      await maintainer.query('BEGIN');
      await maintainer.query(`SET LOCAL lock_timeout = '7s'`);
      await maintainer.query('SELECT auditrum.ensure_partitions(1)');
      const { rows } = await maintainer.query<{ setting: string }>(`SELECT current_setting('lock_timeout') AS setting`);
      expect(rows[0]?.setting).toBe('7s');
      await maintainer.query('COMMIT');
    } finally {
      maintainer.release();
    }
    expect(await txidIndexes(1)).toEqual([
      `CREATE INDEX ${one.partition}_txid_id_idx ON auditrum.${one.partition} USING btree (txid, id)`,
    ]);
    // A host's own index on txid over the whole log (docs/admin.md), whose partitions' indexes PostgreSQL names as
    // version 26 named its own: kept, and ensure_partitions() goes on.
    await db.pool.query('CREATE INDEX changes_txid_idx ON auditrum.changes (txid)');
    await db.pool.query('SELECT auditrum.ensure_partitions(1)');
    const { rows: attached } = await db.pool.query<{ count: string }>(
      `SELECT count(*)::text AS count FROM pg_inherits WHERE inhparent = 'auditrum.changes_txid_idx'::regclass`,
    );
    expect(Number(attached[0]?.count)).toBeGreaterThanOrEqual(4);
    await expectPagesExact();
  });
});
