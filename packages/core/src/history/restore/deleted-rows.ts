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
  const table = await tableByName(db, schema, query.table);
  const rows = await newestDeletes(db, quoteIdentifier(schema), table.id, before, limit + 1);
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
  return { rows: deleted, next: rows.length > limit ? (page.at(-1)?.id ?? null) : null };
}

/**
 * How far back the newest DELETEs are looked for, widening, in months before the current one (UTC, the monthly
 * partitions' bounds), then the whole log: the walk of the log's primary key merges one backward scan per monthly partition, and each
 * must find its first match before any row comes out, so every partition without a DELETE of the table (the older
 * months, usually) would be read whole for the first page. A window starts at a month's start: a bound inside a
 * month does not stop its partition's walk (ids lead the key, a time bound is only tested on each entry), it only
 * leaves that month's DELETEs out (a window of a week, in a month's first days, read the whole previous month for
 * none of its rows: 0.76 s for a table whose DELETEs were all in the current month, at 10,000,000 changes).
 */
const WINDOWS = [0, 1, 12] as const;

/**
 * Newest DELETEs first, below `before`, each the latest change of its key (index changes_row_idx answers both).
 * A page found within a window is the page when no DELETE of the bin older than the window has a larger id than the
 * page's last (a statement that began before the window and was logged after; a probe of the ids above it).
 */
async function newestDeletes(
  db: Queryable,
  audit: string,
  tableId: number,
  before: string | null,
  count: number,
): Promise<{ id: string; reason: string | null }[]> {
  const inBin = (alias: string) =>
    `${alias}.table_id = $1 AND ${alias}.operation = 'DELETE' AND ($2::bigint IS NULL OR ${alias}.id < $2)
     AND NOT EXISTS (SELECT FROM ${audit}.changes l WHERE l.table_id = ${alias}.table_id AND l.row_key = ${alias}.row_key
       AND l.id > ${alias}.id)`;
  const { rows: bounds } = await db.query<{ since: string[] }>(
    `SELECT ARRAY(SELECT ((date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => m))
       AT TIME ZONE 'UTC')::text FROM unnest($1::int[]) WITH ORDINALITY AS w(m, n) ORDER BY n) AS since`,
    [WINDOWS.filter((months) => months !== null)],
  );
  for (const since of [...(bounds[0]?.since ?? []), null]) {
    const { rows } = await db.query<{ id: string; reason: string | null }>(
      `SELECT c.id::text AS id, c.context->>'reason' AS reason FROM ${audit}.changes c
       WHERE ${inBin('c')} AND ($4::timestamptz IS NULL OR c.changed_at >= $4::timestamptz)
       ORDER BY c.id DESC LIMIT $3`,
      [tableId, before, count, since],
    );
    if (since === null) return rows;
    if (rows.length < count) continue;
    const { rows: older } = await db.query<{ found: boolean }>(
      `SELECT EXISTS (SELECT FROM ${audit}.changes o
         WHERE ${inBin('o')} AND o.id > $3::bigint AND o.changed_at < $4::timestamptz) AS found`,
      [tableId, before, rows.at(-1)?.id, since],
    );
    if (older[0]?.found !== true) return rows;
  }
  return [];
}
