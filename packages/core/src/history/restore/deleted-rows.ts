import { keptAnchorHolds } from '../../changes/kept-anchor.js';
import type { Queryable } from '../../db/queryable.js';
import { quoteIdentifier } from '../../schema/identifiers.js';
import { loggedChanges } from './logged-change.js';
import { RestoreError } from './restore-error.js';
import { changeIdOf } from './restore-input.js';
import { tableByName } from './restore-table.js';
import type { ChangeId } from './restore-types.js';

/** A page of a table's recycle bin. */
export interface DeletedRowsQuery {
  table: string;
  /** At most this many rows (1 to 1000, default 50). */
  limit?: number;
  /** Rows deleted before this change: the `next` of the previous page. */
  before?: ChangeId | number | bigint;
  /**
   * Read at most this many ids of the current month's changes below `before` (no index holds its DELETEs: each change
   * is read and tested), for a page whose time is bounded: when they run out before the page is full, the page holds
   * what they had (nothing, even), `searchedTo` is set and `next` goes on below them. Unbounded by default.
   */
  searchLimit?: number;
}

/** A deleted row that has not come back since: what undelete would insert. */
export interface DeletedRow {
  /** The DELETE's change id. */
  changeId: ChangeId;
  deletedAt: Date;
  /** The row's key as the log records it: give it to undelete as the key. */
  rowKey: string;
  /** Its values when deleted, under today's column names, as recorded (masked and oversized ones as their markers). */
  values: Record<string, unknown>;
  /** Columns whose value the log does not hold as it was: masked, oversized or erased. */
  unknown: { column: string; reason: 'masked' | 'oversized' | 'erased' }[];
  actorId: string | null;
  requestId: string | null;
  reason: string | null;
}

export interface DeletedRowsPage {
  rows: DeletedRow[];
  /** Pass as `before` for the next page; null on the last. */
  next: ChangeId | null;
  /**
   * Set when `searchLimit` stopped the search before the page was full: the time of the oldest change it read (only
   * changes with smaller ids are left, for `next`).
   */
  searchedTo?: Date;
}

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1000;

/**
 * The recycle bin: a table's rows whose latest change is their DELETE (not inserted again, and no other row's key
 * changed to theirs), newest first. Rows removed by TRUNCATE are not in it: a TRUNCATE records no rows.
 */
export async function deletedRows(db: Queryable, schema: string, query: DeletedRowsQuery): Promise<DeletedRowsPage> {
  if (query === null || typeof query !== 'object') {
    throw new RestoreError('invalid', 'deletedRows() takes { table, limit?, before? }');
  }
  const limit = query.limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new RestoreError(
      'invalid',
      `the limit must be a whole number from 1 to ${MAX_LIMIT}, not ${JSON.stringify(limit)}`,
    );
  }
  const before = query.before === undefined ? null : changeIdOf(query.before, 'before');
  const searchLimit = query.searchLimit ?? null;
  if (searchLimit !== null && (!Number.isInteger(searchLimit) || searchLimit < 1)) {
    throw new RestoreError('invalid', `the search limit must be a whole number of at least 1, not ${searchLimit}`);
  }
  const table = await tableByName(db, schema, query.table);
  const found = await newestDeletes(db, quoteIdentifier(schema), table.id, before, limit + 1, searchLimit);
  const { rows } = found;
  const page = rows.slice(0, limit);
  const reasons = new Map(page.map((row) => [row.id, row.reason]));
  const changes = await loggedChanges(db, schema, { ids: page.map((row) => row.id) });
  const deleted = changes.reverse().map((change): DeletedRow => {
    const values: Record<string, unknown> = {};
    const unknown: DeletedRow['unknown'] = [];
    for (const [column, logged] of change.oldValues ?? []) {
      values[column] = logged.value;
      if (logged.problem !== undefined) unknown.push({ column, reason: logged.problem });
    }
    return {
      changeId: change.id,
      deletedAt: change.changedAt,
      rowKey: change.rowKey ?? '',
      values,
      unknown,
      actorId: change.actorId,
      requestId: change.requestId,
      reason: reasons.get(change.id) ?? null,
    };
  });
  // Stopped by the search limit: a short page goes on below the changes read; a full one after its last row.
  if (found.stopped !== undefined && page.length < limit) {
    return { rows: deleted, next: found.stopped.below, searchedTo: found.stopped.at };
  }
  const more = rows.length > limit || found.stopped !== undefined;
  return { rows: deleted, next: more ? (page.at(-1)?.id ?? null) : null };
}

/**
 * How far back the months that have ended are looked for the newest DELETEs, widening, in months before the current
 * one (UTC, the monthly partitions' bounds), then the whole log: in an ended month the planner reads the table's
 * DELETEs from the departures index (migration 22) and sorts them, but a walk of the log's primary key merges one
 * backward scan per monthly partition, and each must find its first match before any row comes out (a month without
 * one was read whole). A window starts at a month's start: a bound inside a month does not stop its partition's walk
 * (ids lead the key, a time bound is only tested on each entry).
 */
const ENDED_MONTH_WINDOWS = [1, 12] as const;

/**
 * A window of ended months whose departures index holds at most this many DELETEs of the table is read from it and
 * sorted (about 1.3 µs a DELETE), not by walking the months' primary key.
 */
const SORTED_WINDOW_MAX = 10_000;

type Found = { id: string; reason: string | null };

/** The start of the current month (UTC, the monthly partitions' bounds), in SQL. */
const THIS_MONTH = `(date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')`;

/**
 * Newest DELETEs first, below `before`, each the latest change of its key (index changes_row_idx answers that).
 *
 * The current month (no index holds its DELETEs: capture would pay for one) is read first. Its DELETEs up to the id the
 * summary ensure_partitions() keeps counts (kept_departures, migration 38) are read from that summary; the changes
 * above it (those since its last call, or the whole month without one) by id from `before` down, or `searchLimit`
 * ids (a range of its primary key: the walk tests each change where it reads it, and stops once the page is full).
 * The summary's DELETEs are each tested too, newest first, `searchLimit` of them at most. Then the DELETEs of older
 * months among the same ids (a statement that began before the month and was logged in it). Every DELETE with an id
 * from the lowest read up is then known: when they fill the page it is the page; when a bound stops the read first,
 * the page is what they had and `stopped` says where the next goes on. Below the current month's first change, the
 * ended months (endedMonthDeletes).
 */
async function newestDeletes(
  db: Queryable,
  audit: string,
  tableId: number,
  before: string | null,
  count: number,
  searchLimit: number | null,
): Promise<{ rows: Found[]; stopped?: { below: string; at: Date } }> {
  const inBin = binCondition(audit);
  // The current month's ids below `before` (the log's newest when null; ids are handed out one by one): from its
  // first, or `searchLimit` of them.
  const { rows: ids } = await db.query<{ first: string | null; top: string | null }>(
    `SELECT (SELECT min(c.id) FROM ${audit}.changes c WHERE c.changed_at >= ${THIS_MONTH})::text AS first,
       coalesce($1::bigint, (SELECT max(c.id) + 1 FROM ${audit}.changes c))::text AS top`,
    [before],
  );
  const { first, top } = ids[0] as { first: string | null; top: string | null };
  if (first === null || top === null || BigInt(first) >= BigInt(top)) {
    return { rows: await endedMonthDeletes(db, audit, tableId, before, count, []) };
  }
  const kept = await keptDeletesTo(db, audit, tableId, first);
  // The ids the log is read for: above the summary (all of the month without one), `searchLimit` of them at most.
  const floor = kept === null ? BigInt(first) : kept + 1n;
  const bound = searchLimit === null ? BigInt(first) : BigInt(top) - BigInt(searchLimit);
  const lowest = bound > floor ? bound : floor;
  let found: Found[] = [];
  // Every change from `read` up to `before` is known: the page's last, a bound, or the month's first change.
  let read = lowest.toString();
  if (lowest < BigInt(top)) {
    // Its DELETEs in the bin among those ids, as the walk reads them (it stops once the page is full).
    ({ rows: found } = await db.query<Found>(
      `SELECT c.id::text AS id, c.context->>'reason' AS reason FROM ${audit}.changes c
       WHERE ${inBin('c')} AND c.changed_at >= ${THIS_MONTH} AND c.id >= $4::bigint ORDER BY c.id DESC LIMIT $3`,
      [tableId, before, count, read],
    ));
  }
  if (found.length >= count) read = (found[count - 1] as Found).id;
  else if (kept !== null && lowest === floor) {
    // The log read down to the summary: its DELETEs next, below `before`.
    const summarized = await keptDeletes(db, audit, tableId, before, count - found.length, first, searchLimit);
    found = [...found, ...summarized.rows];
    read = found.length >= count ? (found[count - 1] as Found).id : summarized.read;
  }
  // The older months' DELETEs among those ids (a statement that began before the month and was logged in it), from
  // the primary key's range.
  const { rows: older } = await db.query<Found>(
    `SELECT o.id::text AS id, o.context->>'reason' AS reason FROM ${audit}.changes o
     WHERE ${inBin('o')} AND o.changed_at < ${THIS_MONTH} AND o.id >= $4::bigint ORDER BY o.id DESC LIMIT $3`,
    [tableId, before, count, read],
  );
  const rows = newestFirst([...found, ...older], count);
  if (rows.length >= count) return { rows };
  // The month read to its first change: the ended months next, below it.
  if (read === first) return { rows: await endedMonthDeletes(db, audit, tableId, first, count, rows) };
  // A bound stopped the read: the time of the oldest change read.
  const { rows: edge } = await db.query<{ at: Date }>(
    `SELECT coalesce((SELECT c.changed_at FROM ${audit}.changes c WHERE c.id >= $1::bigint ORDER BY c.id LIMIT 1),
       now()) AS at`,
    [read],
  );
  return { rows, stopped: { below: read, at: (edge[0] as { at: Date }).at } };
}

/**
 * Up to which id the summary ensure_partitions() keeps (kept_departures, migration 38) holds every DELETE of the table
 * in the current month: null without one (not made yet, made from a later time, a log emptied since, a role that may
 * not read it, a schema not migrated to version 38), or when it ends below the month's first change `first`.
 */
async function keptDeletesTo(db: Queryable, audit: string, tableId: number, first: string): Promise<bigint | null> {
  // Asked first: a statement on a table the role may not read would fail the caller's transaction.
  const { rows: readable } = await db.query<{ readable: boolean }>(
    `SELECT coalesce(has_table_privilege(to_regclass($1), 'SELECT') AND has_table_privilege(to_regclass($2), 'SELECT'),
       false) AS readable`,
    [`${audit}.kept_departures_tables`, `${audit}.kept_departures`],
  );
  if (readable[0]?.readable !== true) return null;
  const { rows } = await db.query<{ up_to: string }>(
    `SELECT k.summarized_to::text AS up_to FROM ${audit}.kept_departures_tables k
     WHERE k.table_id = $1 AND k.since <= ${THIS_MONTH} AND k.summarized_to >= $2::bigint
       AND ${keptAnchorHolds(audit, 'k')}`,
    [tableId, first],
  );
  return rows[0] === undefined ? null : BigInt(rows[0].up_to);
}

/**
 * The table's current-month DELETEs in the bin from the kept summary, newest first, below `before`: `count` at most,
 * each tested against the log (its change read by id and time, then whether a later change of its key followed), of
 * the summary's newest `searchLimit` DELETEs at most. `read`: the lowest id they are known from (the month's first
 * change `first` when the summary's DELETEs ran out).
 */
async function keptDeletes(
  db: Queryable,
  audit: string,
  tableId: number,
  before: string | null,
  count: number,
  first: string,
  searchLimit: number | null,
): Promise<{ rows: Found[]; read: string }> {
  const candidates = `SELECT d.id, d.at_us FROM ${audit}.kept_departures d
    WHERE d.table_id = $1 AND d.move IS NULL AND ($2::bigint IS NULL OR d.id < $2) AND d.id >= $3::bigint
      AND d.at_us >= (extract(epoch FROM ${THIS_MONTH}) * 1000000)::bigint
    ORDER BY d.id DESC LIMIT $4`;
  const { rows } = await db.query<Found>(
    // Each candidate's change probed by id and time, its partition found at run time (OFFSET 0: a join the planner
    // may not turn into a hash of the log).
    `SELECT c.id::text AS id, c.context->>'reason' AS reason
     FROM (${candidates}) d CROSS JOIN LATERAL (SELECT c.* FROM ${audit}.changes c
       WHERE c.id = d.id AND c.changed_at = timestamptz 'epoch' + d.at_us * interval '1 microsecond' OFFSET 0) c
     WHERE ${binCondition(audit)('c')} ORDER BY d.id DESC LIMIT $5`,
    [tableId, before, first, searchLimit, count],
  );
  if (rows.length >= count || searchLimit === null) return { rows, read: first };
  const { rows: examined } = await db.query<{ read: string | null; n: number }>(
    `SELECT min(d.id)::text AS read, count(*)::integer AS n FROM (${candidates}) d`,
    [tableId, before, first, searchLimit],
  );
  const { read, n } = examined[0] as { read: string | null; n: number };
  return { rows, read: n >= searchLimit && read !== null ? read : first };
}

/**
 * The page below `below` once the current month has no more changes there: `current`, the current month's DELETEs in
 * the bin, with the ended months' newest, read in widening windows, a page found within one checked against older
 * DELETEs with larger ids (a probe of the ids above its last).
 */
async function endedMonthDeletes(
  db: Queryable,
  audit: string,
  tableId: number,
  below: string | null,
  count: number,
  current: Found[],
): Promise<Found[]> {
  const inBin = binCondition(audit);
  const { rows: bounds } = await db.query<{ since: string[] }>(
    `SELECT ARRAY(SELECT ((date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => m))
       AT TIME ZONE 'UTC')::text FROM unnest($1::int[]) WITH ORDINALITY AS w(m, n) ORDER BY n) AS since`,
    [ENDED_MONTH_WINDOWS],
  );
  for (const since of [...(bounds[0]?.since ?? []), null]) {
    const inWindow = (since: string) =>
      `c.changed_at < ${THIS_MONTH} AND (${since}::timestamptz IS NULL OR c.changed_at >= ${since}::timestamptz)`;
    const { rows: counted } = await db.query<{ deletes: number }>(
      `SELECT count(*)::integer AS deletes FROM ${audit}.changes c
       WHERE c.table_id = $1 AND c.operation = 'DELETE' AND ${inWindow('$2')}`,
      [tableId, since],
    );
    // Asked for the newest by id, the planner may walk the months' primary key, expecting a DELETE soon, and read a
    // month without one whole (50–68 ms a month of 250,000 changes); when the departures index holds few of the
    // table's DELETEs in the window (counted from it alone), they are read from it and sorted instead.
    const sorted = (counted[0]?.deletes ?? 0) <= SORTED_WINDOW_MAX;
    const { rows: ended } = await db.query<Found>(
      sorted
        ? `SELECT c.id::text AS id, c.context->>'reason' AS reason
           FROM (SELECT c.id, c.table_id, c.row_key, c.context FROM ${audit}.changes c
                 WHERE c.table_id = $1 AND c.operation = 'DELETE' AND ($2::bigint IS NULL OR c.id < $2)
                   AND ${inWindow('$4')}
                 ORDER BY c.id DESC OFFSET 0) c
           WHERE NOT EXISTS (SELECT FROM ${audit}.changes l WHERE l.table_id = c.table_id AND l.row_key = c.row_key
             AND l.id > c.id)
           LIMIT $3`
        : `SELECT c.id::text AS id, c.context->>'reason' AS reason FROM ${audit}.changes c
           WHERE ${inBin('c')} AND ${inWindow('$4')} ORDER BY c.id DESC LIMIT $3`,
      [tableId, below, count, since],
    );
    const page = newestFirst([...current, ...ended], count);
    if (since === null) return page;
    if (page.length < count) continue;
    const { rows: older } = await db.query<{ found: boolean }>(
      `SELECT EXISTS (SELECT FROM ${audit}.changes o
         WHERE ${inBin('o')} AND o.id > $3::bigint AND o.changed_at < $4::timestamptz) AS found`,
      [tableId, below, page.at(-1)?.id, since],
    );
    if (older[0]?.found !== true) return page;
  }
  return current;
}

/**
 * The condition that a change `alias` is in the bin of table $1 below change $2 (none when null): a DELETE, the latest
 * change of its key (index changes_row_idx answers that).
 */
function binCondition(audit: string): (alias: string) => string {
  return (alias) =>
    `${alias}.table_id = $1 AND ${alias}.operation = 'DELETE' AND ($2::bigint IS NULL OR ${alias}.id < $2)
     AND NOT EXISTS (SELECT FROM ${audit}.changes l WHERE l.table_id = ${alias}.table_id AND l.row_key = ${alias}.row_key
       AND l.id > ${alias}.id)`;
}

/** The first `count` of `rows`, newest (largest id) first. */
function newestFirst(rows: Found[], count: number): Found[] {
  return rows.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? 1 : -1)).slice(0, count);
}
