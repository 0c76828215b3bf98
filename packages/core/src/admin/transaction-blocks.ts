import type pg from 'pg';
import { keptAnchorHolds } from '../changes/kept-anchor.js';
import { FinalIds } from './final-ids.js';
import { SqlParams } from './sql-builder.js';

/** Change ids per block: a transaction of a few changes falls in one or two blocks of this many ids. */
const DEFAULT_BLOCK_IDS = 1024n;
/**
 * PostgreSQL's errors for a kept summary the admin goes without: a role that may not read it, a schema not migrated to
 * version 36 yet.
 */
const WITHOUT_KEPT_SUMMARY = new Set(['42501', '42P01']);
/** At most this many id ranges in one query (the nearest ones are merged: a wider range reads more, never less). */
const MAX_RANGES = 64;

/**
 * The ids a transaction's changes can have: in one of `ranges` (above `from`, up to `to`), or above `after`. Those of
 * its changes made in the `ordered` months (indexed by (txid, id), migration 39) are in `ranges` too.
 */
export interface TransactionRanges {
  ranges: { from: string; to: string }[];
  after: string;
  /**
   * The months indexed by (txid, id) that hold changes of the transaction: a page reads each as a range of that index,
   * in id order, instead of sorting the transaction's changes there (month-walk.ts).
   */
  ordered: IndexedMonth[];
}

/** A month of the change log indexed by txid: from `start` to `end` (ISO 8601 in UTC, as any session reads them). */
export interface IndexedMonth {
  start: string;
  end: string;
}

/**
 * The admin's own summary of which transactions wrote which ids, so that a transaction's page reads a few blocks of
 * ids instead of the whole log, at no cost to capture (an index on `txid` costs every captured change; see
 * docs/admin.md). For each block of 1,024 change ids it keeps the smallest and largest `txid` among its rows, but
 * only for ids whose transactions have all ended ("final", final-ids.ts), since a transaction still open may yet add
 * rows to any id it drew. Ids above the final ones are read as they are (the few written since the last look).
 *
 * The months that have ended have an index on `txid` (migration 26, made once capture no longer writes there): the
 * summary leaves their rows out, and a page asks their indexes for the transaction's smallest and largest id in each
 * instead. So the summary holds the current month, the default partition and the months ahead.
 *
 * Kept in memory, one per admin mount: the first transaction page starts from the summary ensure_partitions() keeps in
 * the database (migration 37: at 10,000,000 changes a week into the month, 4–11 ms of server CPU instead of reading the month's
 * 570,000 (id, txid), 122–149 ms) or, without it, reads the (id, txid) of the months without the index;
 * then each page reads only the changes written since. The admin writes nothing to the database.
 */
export class TransactionBlocks {
  /** Ids up to this one are summarized. */
  private final = 0n;
  private readonly blocks = new Map<bigint, { min: bigint; max: bigint }>();
  /**
   * The indexed months (their start, as the database spells it) whose rows the summary left out: a page reads them by
   * their indexes. Bounded by time, through the log's parent, so they are read the same if an index is dropped.
   */
  private readonly skipped = new Map<string, IndexedMonth>();
  /** The resets of the final ids (the log emptied, or gone back in time) seen when the summary began. */
  private resets = 0;
  private readonly finalIds: FinalIds;
  private updating: Promise<void> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schemaSql: string,
    private readonly blockIds = DEFAULT_BLOCK_IDS,
  ) {
    this.finalIds = new FinalIds(pool, schemaSql);
  }

  /**
   * The id ranges transaction `txid`'s changes can lie in: every block whose txids span it, its first to last id in
   * each indexed month the summary left out, and the ids not final.
   */
  async rangesOf(txid: string): Promise<TransactionRanges> {
    await this.update();
    const wanted = BigInt(txid);
    const ranges: { from: bigint; to: bigint }[] = [];
    const { spans, ordered } = await this.indexedSpans(txid);
    // The map holds the blocks in increasing order (each summary adds the ones above the last).
    for (const [block, span] of this.blocks) {
      if (wanted < span.min || wanted > span.max) continue;
      const from = block * this.blockIds;
      const last = ranges.at(-1);
      if (last !== undefined && last.to === from) last.to = from + this.blockIds;
      else ranges.push({ from, to: from + this.blockIds });
    }
    ranges.push(...spans);
    ranges.sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
    return {
      ranges: mergeNearest(overlapsJoined(ranges), MAX_RANGES).map((r) => ({ from: String(r.from), to: String(r.to) })),
      after: String(this.final),
      ordered,
    };
  }

  /** One update at a time; callers that arrive during one wait for it. */
  private update(): Promise<void> {
    this.updating ??= this.observe().finally(() => {
      this.updating = undefined;
    });
    return this.updating;
  }

  private async observe(): Promise<void> {
    const { upTo, resets } = await this.finalIds.observe();
    if (resets !== this.resets) this.reset(resets);
    if (this.final === 0n) await this.adoptKept();
    if (upTo > this.final) await this.summarize(upTo);
  }

  /**
   * Starts from the summary ensure_partitions() keeps (transaction_blocks, migration 37), when it is made in blocks of
   * this summary's size and the newest change it counts is still there as it was (the log was not emptied since): its
   * blocks, how far they go, and the months it left out, read by their times as this summary's own. One statement, one
   * snapshot. Without it (not made yet, or a role that may not read it) the summary starts from the log itself.
   */
  private async adoptKept(): Promise<void> {
    let rows: { upto: string; starts: string[]; ends: string[]; blocks: string[]; mins: string[]; maxes: string[] }[];
    try {
      ({ rows } = await this.pool.query(
        `SELECT k.summarized_to::text AS upto,
           array(SELECT to_char(f AT TIME ZONE 'UTC', 'YYYY-MM-DD"T00:00:00Z"') FROM unnest(k.indexed_from) f) AS starts,
           array(SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T00:00:00Z"') FROM unnest(k.indexed_to) t) AS ends,
           array(SELECT b.block::text FROM ${this.schemaSql}.transaction_blocks b ORDER BY b.block) AS blocks,
           array(SELECT b.min_txid::text FROM ${this.schemaSql}.transaction_blocks b ORDER BY b.block) AS mins,
           array(SELECT b.max_txid::text FROM ${this.schemaSql}.transaction_blocks b ORDER BY b.block) AS maxes
         FROM ${this.schemaSql}.transaction_blocks_kept k
         WHERE k.block_ids = $1 AND ${keptAnchorHolds(this.schemaSql, 'k')}`,
        [String(this.blockIds)],
      ));
    } catch (error) {
      if (WITHOUT_KEPT_SUMMARY.has((error as { code?: string }).code ?? '')) return;
      throw error;
    }
    const kept = rows[0];
    if (kept === undefined) return;
    kept.starts.forEach((start, i) => {
      this.skipped.set(start, { start, end: kept.ends[i] as string });
    });
    kept.blocks.forEach((block, i) => {
      this.blocks.set(BigInt(block), { min: BigInt(kept.mins[i] as string), max: BigInt(kept.maxes[i] as string) });
    });
    this.final = BigInt(kept.upto);
  }

  /**
   * Transaction `txid`'s first and last id in each month the summary left out (an index probe each; the ranges are
   * as the page reads them: above `from`, up to `to`), and those of these months indexed by (txid, id) where it has
   * changes (tested at each call: ensure_partitions() replaces the months' (txid) indexes one at a time).
   */
  private async indexedSpans(
    txid: string,
  ): Promise<{ spans: { from: bigint; to: bigint }[]; ordered: IndexedMonth[] }> {
    if (this.skipped.size === 0) return { spans: [], ordered: [] };
    const byId = new Set(
      (await txidIndexedMonths(this.pool, this.schemaSql)).filter((month) => month.byId).map((month) => month.start),
    );
    // One arm per month, bounded by its times: each reads that month's partition alone. By (txid, id), the first and
    // the last id are a probe each; by (txid), every change of the transaction is read (an import of 100,000: 30 ms),
    // and OFFSET 0 keeps the planner from finding min(id) by walking the primary key instead of the txid index.
    const sql = new SqlParams();
    const txidParam = sql.add(txid);
    const arms = [...this.skipped.values()].map((month) => {
      const inMonth = `FROM ${this.schemaSql}.changes c WHERE c.txid = ${txidParam}::bigint
        AND c.changed_at >= ${sql.add(month.start)}::timestamptz AND c.changed_at < ${sql.add(month.end)}::timestamptz`;
      const start = `${sql.add(month.start)}::text AS start`;
      return byId.has(month.start)
        ? `SELECT ${start}, (SELECT c.id ${inMonth} ORDER BY c.id LIMIT 1) AS first,
             (SELECT c.id ${inMonth} ORDER BY c.id DESC LIMIT 1) AS last`
        : `SELECT ${start}, min(s.id) AS first, max(s.id) AS last FROM (SELECT c.id ${inMonth} OFFSET 0) s`;
    });
    const { rows } = await this.pool.query<{ start: string; first: string | null; last: string | null }>(
      `SELECT a.start, a.first::text AS first, a.last::text AS last FROM (${arms.join(' UNION ALL ')}) a
       WHERE a.first IS NOT NULL`,
      sql.values,
    );
    return {
      spans: rows.map((row) => ({ from: BigInt(row.first as string) - 1n, to: BigInt(row.last as string) })),
      ordered: rows.flatMap((row) => {
        const month = this.skipped.get(row.start);
        return month !== undefined && byId.has(row.start) ? [month] : [];
      }),
    };
  }

  /**
   * Adds the final ids above the summarized ones, up to `upTo`, block by block, leaving out the rows of the months
   * indexed by txid now (kept in `skipped`).
   */
  private async summarize(upTo: bigint): Promise<void> {
    const months = await txidIndexedMonths(this.pool, this.schemaSql);
    for (const { start, end } of months) this.skipped.set(start, { start, end });
    // The other times: before, between and after the skipped months (the partitions holding them and the default one),
    // one test per run of consecutive months.
    const sql = new SqlParams();
    const after = sql.add(String(this.final));
    const upToParam = sql.add(String(upTo));
    const outside = consecutiveJoined([...this.skipped.values()]).map(
      (month) =>
        `NOT (c.changed_at >= ${sql.add(month.start)}::timestamptz AND c.changed_at < ${sql.add(month.end)}::timestamptz)`,
    );
    const { rows } = await this.pool.query<{ block: string; min: string; max: string }>(
      `SELECT ((c.id - 1) / ${this.blockIds}) AS block, min(c.txid)::text AS min, max(c.txid)::text AS max
       FROM ${this.schemaSql}.changes c WHERE c.id > ${after}::bigint AND c.id <= ${upToParam}::bigint
         ${outside.map((condition) => `AND ${condition}`).join(' ')}
       GROUP BY 1`,
      sql.values,
    );
    // Sorted here, not in SQL: ORDER BY made the planner sort every row (the group count is estimated as the ids')
    // where a hash of the thousand blocks is read at once.
    const spans = rows.map((row) => ({ block: BigInt(row.block), min: BigInt(row.min), max: BigInt(row.max) }));
    spans.sort((a, b) => (a.block < b.block ? -1 : a.block > b.block ? 1 : 0));
    for (const { block, min, max } of spans) {
      const span = this.blocks.get(block) ?? { min, max };
      if (min < span.min) span.min = min;
      if (max > span.max) span.max = max;
      this.blocks.set(block, span);
    }
    this.final = upTo;
  }

  private reset(resets: number): void {
    this.final = 0n;
    this.blocks.clear();
    this.skipped.clear();
    this.resets = resets;
  }
}

/**
 * The partitions changes_pYYYY_MM ([month, next month) in UTC) with a usable index led by txid (valid, ready, not
 * partial), as _txid_indexed() of migration 26 tests it, and whether one of them is on (txid, id) (_txid_id_indexed(),
 * migration 39), from the catalog (a role that may read the log need not be granted those functions). Every row with a
 * changed_at in such a month is in that partition (a partition's range is never also the default partition's), so
 * bounding a query by these times reads these partitions alone.
 */
async function txidIndexedMonths(pool: pg.Pool, schemaSql: string): Promise<(IndexedMonth & { byId: boolean })[]> {
  const { rows } = await pool.query<IndexedMonth & { byId: boolean }>(
    `SELECT to_char(m.start, 'YYYY-MM-DD"T00:00:00Z"') AS start,
       to_char(m.start + interval '1 month', 'YYYY-MM-DD"T00:00:00Z"') AS "end",
       bool_or(b.attname IS NOT DISTINCT FROM 'id') AS "byId"
     FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
     CROSS JOIN LATERAL (SELECT to_date(substr(c.relname, 10), 'YYYY_MM') AS start) m
     JOIN pg_index i ON i.indrelid = c.oid AND i.indisvalid AND i.indisready AND i.indpred IS NULL
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] AND a.attname = 'txid'
     LEFT JOIN pg_attribute b ON b.attrelid = i.indrelid AND b.attnum = i.indkey[1]
     WHERE h.inhparent = to_regclass($1) AND c.relname ~ '^changes_p[0-9]{4}_[0-9]{2}$'
     GROUP BY m.start`,
    [`${schemaSql}.changes`],
  );
  return rows;
}

/** Months (in any order) joined into runs of consecutive ones, oldest first. */
export function consecutiveJoined(months: readonly IndexedMonth[]): IndexedMonth[] {
  const runs: IndexedMonth[] = [];
  // ISO 8601 in UTC: their text sorts as their times.
  for (const month of [...months].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))) {
    const last = runs.at(-1);
    if (last?.end === month.start) last.end = month.end;
    else runs.push({ ...month });
  }
  return runs;
}

/** Ranges sorted by their start, those that overlap or touch joined into one: ranges apart, as mergeNearest takes. */
export function overlapsJoined<T extends { from: bigint; to: bigint }>(sorted: readonly T[]): T[] {
  const joined: T[] = [];
  for (const range of sorted) {
    const last = joined.at(-1);
    if (last !== undefined && range.from <= last.to) {
      if (range.to > last.to) last.to = range.to;
    } else joined.push({ ...range });
  }
  return joined;
}

/**
 * Ranges (in increasing order, apart) merged across their smallest gaps until at most `most` remain; each merged range
 * covers what its parts covered.
 */
export function mergeNearest<T extends { from: bigint; to: bigint }>(ranges: readonly T[], most: number): T[] {
  if (ranges.length <= most) return [...ranges];
  const gaps = ranges.slice(1).map((range, i) => range.from - (ranges[i] as T).to);
  gaps.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  // Merging every gap up to the (n - most)th smallest leaves at most `most` ranges.
  const widest = gaps[ranges.length - most - 1] as bigint;
  const merged: T[] = [];
  for (const range of ranges) {
    const last = merged.at(-1);
    if (last !== undefined && range.from - last.to <= widest) last.to = range.to;
    else merged.push({ ...range });
  }
  return merged;
}
