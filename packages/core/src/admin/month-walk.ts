import type { ChangeRow } from '../changes/change-row.js';
import { changeColumns } from '../changes/change-row.js';
import type { ApiContext } from './api-context.js';
import type { ChangeCriteria } from './change-filters.js';
import { SqlParams, whereClause } from './sql-builder.js';
import type { IndexedMonth } from './transaction-blocks.js';

/** A monthly partition's bounds (ISO 8601, UTC): its changes were made from `lower` up to, not including, `upper`. */
export interface LogMonth {
  lower: string;
  upper: string;
}

/**
 * The change log's monthly partitions, newest first; null when the log is not read month by month: fewer than two
 * of them, or rows in the default partition (which may hold any time: a log without monthly partitions keeps all
 * there).
 */
export async function logMonths(api: Pick<ApiContext, 'pool' | 'schemaSql'>): Promise<LogMonth[] | null> {
  const { rows } = await api.pool.query<{ lower: string | null; upper: string | null }>(
    `SELECT to_char(b.m[1]::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS lower,
       to_char(b.m[2]::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS upper
     FROM (SELECT pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = to_regclass($1)) p
     CROSS JOIN LATERAL (SELECT regexp_match(p.bound, '^FOR VALUES FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)$') AS m) b
     ORDER BY b.m[2]::timestamptz DESC NULLS LAST`,
    [`${api.schemaSql}.changes`],
  );
  const months = rows.flatMap((row) =>
    row.lower === null || row.upper === null ? [] : [{ lower: row.lower, upper: row.upper }],
  );
  if (months.length < 2) return null;
  if (months.length < rows.length && (await outsideMonths(api, months))) return null;
  return months;
}

/**
 * Whether the log holds changes outside its months (in the default partition), asked through the parent (the
 * admin's role may not read a partition itself): its times outside every month's, which the planner prunes to the
 * default partition, read until its first row.
 */
async function outsideMonths(api: Pick<ApiContext, 'pool' | 'schemaSql'>, months: readonly LogMonth[]) {
  const sql = new SqlParams();
  const oldest = months.at(-1) as LogMonth;
  const outside = [
    `c.changed_at < ${sql.add(oldest.lower)}::timestamptz`,
    `c.changed_at >= ${sql.add((months[0] as LogMonth).upper)}::timestamptz`,
  ];
  // Gaps between months (a month dropped by hand, say).
  for (const [i, month] of months.slice(1).entries()) {
    const newer = months[i] as LogMonth;
    if (month.upper !== newer.lower) {
      outside.push(
        `(c.changed_at >= ${sql.add(month.upper)}::timestamptz AND c.changed_at < ${sql.add(newer.lower)}::timestamptz)`,
      );
    }
  }
  const { rows } = await api.pool.query<{ any: boolean }>(
    `SELECT EXISTS (SELECT FROM ${api.schemaSql}.changes c WHERE ${outside.join(' OR ')}) AS any`,
    sql.values,
  );
  return rows[0]?.any === true;
}

/**
 * The months to read the changes that match the criteria in, newest first: null when they are read in one query (the
 * criteria's filters have an index of their own, or the log is not read month by month: logMonths).
 */
export async function monthsToWalk(
  api: Pick<ApiContext, 'pool' | 'schemaSql'>,
  criteria: ChangeCriteria,
): Promise<LogMonth[] | null> {
  if (!walksThePrimaryKey(criteria)) return null;
  const months = await logMonths(api);
  return months === null ? null : monthsWithin(months, criteria);
}

/**
 * The newest `count` changes that match `conditions` (built from `criteria`): a month at a time in `months`, or in one
 * query without.
 */
export function newestChanges(
  api: Pick<ApiContext, 'pool' | 'schemaSql'>,
  criteria: ChangeCriteria,
  months: readonly LogMonth[] | null,
  conditions: (sql: SqlParams) => string[],
  count: number,
): Promise<ChangeRow[]> {
  if (months !== null) return newestByMonth(api, months, conditions, count);
  if (criteria.request === undefined && criteria.txid === undefined) return newest(api, conditions, count, 'c.id');
  return newest(api, conditions, count, ID_UNINDEXED, criteria.txidIds?.blocks?.ordered ?? []);
}

/**
 * The id as a sort key no index holds, for the changes of a request or a transaction: their indexes (request_id; txid
 * on the ended months, until migration 39 makes it (txid, id): orderedMonthsPage) do not hold ids in order, so for one
 * with many changes the planner walked the primary key instead, merged over every month, and read each month without
 * one of them whole before the first row (a request of 100,000 changes at 10,000,000: 2 s of server CPU). Sorted by
 * this, they are read through their index and the page is taken from them (about 50 ms for those 100,000; a request
 * of ten changes 0.3 ms).
 */
const ID_UNINDEXED = '(c.id + 0)';

/**
 * Whether the page is read by walking the primary key backwards (no filter, operation, a busy table, times): then it
 * is read a month at a time (month-walk.ts). The filters with an index of their own (actor, erasure, request, key,
 * transaction, TRUNCATE and DDL) find a month without matches at once, and a page of a few matches would take a
 * query per month.
 */
export function walksThePrimaryKey(criteria: ChangeCriteria): boolean {
  return (
    criteria.actors.length === 0 &&
    criteria.erasure === undefined &&
    criteria.request === undefined &&
    criteria.key === undefined &&
    criteria.txid === undefined &&
    criteria.operation !== 'TRUNCATE' &&
    criteria.operation !== 'DDL'
  );
}

/** The months that can hold changes between the criteria's `from` and `to` (the bounds compared to the millisecond). */
function monthsWithin(months: readonly LogMonth[], criteria: ChangeCriteria): LogMonth[] {
  const from = milliseconds(criteria.from);
  const to = milliseconds(criteria.to);
  return months.filter(
    (month) =>
      (from === undefined || Date.parse(month.upper) >= from) && (to === undefined || Date.parse(month.lower) <= to),
  );
}

/** An instant parameter's milliseconds; undefined without one, or when JavaScript cannot read it (no month is left out). */
function milliseconds(instant: string | undefined): number | undefined {
  const ms = instant === undefined ? Number.NaN : Date.parse(instant);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * The newest `count` changes that match the conditions, in one query, sorted by `id` (an expression of the id); with
 * ID_UNINDEXED, those of the `ordered` months (a transaction's, indexed by (txid, id)) read in id order there.
 */
async function newest(
  api: Pick<ApiContext, 'pool' | 'schemaSql'>,
  conditions: (sql: SqlParams) => string[],
  count: number,
  id: string,
  ordered: readonly IndexedMonth[] = [],
): Promise<ChangeRow[]> {
  const sql = new SqlParams();
  const where = whereClause(conditions(sql));
  const limit = sql.add(count);
  let query: string;
  if (id !== ID_UNINDEXED) {
    query = `SELECT ${changeColumns(api.schemaSql)} FROM ${api.schemaSql}.changes c WHERE ${where}
      ORDER BY ${id} DESC LIMIT ${limit}`;
  } else if (ordered.length === 0) {
    query = unindexedPage(api.schemaSql, where, 'DESC', limit);
  } else {
    query = orderedMonthsPage(api.schemaSql, where, ordered, limit, sql);
  }
  const { rows } = await api.pool.query<ChangeRow>(query, sql.values);
  return rows;
}

/**
 * A page of a transaction's changes (newest first) when some of them lie in months indexed by (txid, id) (migration
 * 39): in each such month, the newest `limit` read backwards along that index (its range for the txid, in id order:
 * 50 entries, not the transaction's every change), and the others (the months without it) sorted as unindexedPage
 * sorts them; the page is the newest `limit` of these. An import of 100,000 changes in an ended month: see
 * docs/benchmarks.md (session 13).
 */
function orderedMonthsPage(
  schemaSql: string,
  where: string,
  ordered: readonly IndexedMonth[],
  limit: string,
  sql: SqlParams,
): string {
  const bounds = ordered.map((month) => ({ start: sql.add(month.start), end: sql.add(month.end) }));
  const inMonth = bounds.map(
    ({ start, end }) => `(SELECT c.id FROM ${schemaSql}.changes c WHERE ${where}
      AND c.changed_at >= ${start}::timestamptz AND c.changed_at < ${end}::timestamptz ORDER BY c.id DESC LIMIT ${limit})`,
  );
  const outside = bounds
    .map(({ start, end }) => ` AND (c.changed_at < ${start}::timestamptz OR c.changed_at >= ${end}::timestamptz)`)
    .join('');
  const others = `(SELECT c.id FROM ${schemaSql}.changes c WHERE ${where}${outside}
    ORDER BY ${ID_UNINDEXED} DESC LIMIT ${limit})`;
  return `SELECT ${changeColumns(schemaSql)} FROM ${schemaSql}.changes c
    WHERE c.id = ANY (ARRAY(SELECT u.id FROM (${[...inMonth, others].join(' UNION ALL ')}) u
                            ORDER BY u.id DESC LIMIT ${limit}))
    ORDER BY c.id DESC`;
}

/**
 * A page of the changes that match `where`, sorted by ID_UNINDEXED (a request's or a transaction's): their ids first,
 * then those rows by id. Every match is read to sort them; sorting the ids alone, not the rows with their values,
 * costs a fifth less (an import's 100,000 changes: 46 → 38 ms of server CPU).
 */
export function unindexedPage(schemaSql: string, where: string, order: 'ASC' | 'DESC', limit: string): string {
  return `SELECT ${changeColumns(schemaSql)} FROM ${schemaSql}.changes c
    WHERE c.id = ANY (ARRAY(SELECT c.id FROM ${schemaSql}.changes c WHERE ${where}
                            ORDER BY ${ID_UNINDEXED} ${order} LIMIT ${limit}))
    ORDER BY c.id ${order}`;
}

/**
 * The newest `count` changes (below the cursor) that match `conditions`, read one month at a time, newest first,
 * until no older month can hold a change with a larger id than the last of them (a probe of the ids above it: a
 * statement that began before a month's end and was logged after has its time in the older month).
 *
 * One query over every month would merge a backward walk of each partition's primary key, and each walk must find
 * its first match before any row comes out: a month with none (a table that stopped changing, DELETEs that a month
 * did not have) is read whole, however many matches the newer months hold (10,000,000 changes, `operation=DELETE`
 * with every DELETE in the current month: 2.1 s of server CPU for the first page).
 */
async function newestByMonth(
  api: Pick<ApiContext, 'pool' | 'schemaSql'>,
  months: readonly LogMonth[],
  conditions: (sql: SqlParams) => string[],
  count: number,
): Promise<ChangeRow[]> {
  let found: ChangeRow[] = [];
  for (const month of windows(months, Date.now())) {
    const sql = new SqlParams();
    const inMonth = [...conditions(sql), `c.changed_at >= ${sql.add(month.lower)}::timestamptz`];
    if (month.upper !== null) inMonth.push(`c.changed_at < ${sql.add(month.upper)}::timestamptz`);
    const { rows } = await api.pool.query<ChangeRow>(
      `SELECT ${changeColumns(api.schemaSql)} FROM ${api.schemaSql}.changes c WHERE ${whereClause(inMonth)}
       ORDER BY c.id DESC LIMIT ${sql.add(count)}`,
      sql.values,
    );
    found = [...found, ...rows].sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : -1)).slice(0, count);
    const last = found[count - 1];
    if (last === undefined) continue;
    const older = new SqlParams();
    const above = [
      ...conditions(older),
      `c.changed_at < ${older.add(month.lower)}::timestamptz`,
      `c.id > ${older.add(last.id)}::bigint`,
    ];
    const { rows: straddling } = await api.pool.query<{ any: boolean }>(
      `SELECT EXISTS (SELECT FROM ${api.schemaSql}.changes c WHERE ${whereClause(above)}) AS any`,
      older.values,
    );
    if (straddling[0]?.any !== true) return found;
  }
  return found;
}

/**
 * The months to read one at a time, newest first: the months ahead (made in advance, empty unless a clock ran
 * ahead) go with the current one, read together (an empty partition costs the merge nothing), so that a page that
 * fills in the current month takes one query.
 */
function windows(months: readonly LogMonth[], now: number): { lower: string; upper: string | null }[] {
  const current = months.findIndex((month) => Date.parse(month.lower) <= now);
  if (current <= 0) return [...months];
  const first = months[current] as LogMonth;
  return [{ lower: first.lower, upper: null }, ...months.slice(current + 1)];
}
