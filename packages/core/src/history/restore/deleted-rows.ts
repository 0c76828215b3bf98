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
  /** Columns whose value was not recorded as it was: masked or oversized. */
  unknown: { column: string; reason: 'masked' | 'oversized' }[];
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
  const audit = quoteIdentifier(schema);
  // Newest DELETEs first; each must be the latest change of its key (index changes_row_idx answers both).
  const { rows } = await db.query<{ id: string; reason: string | null }>(
    `SELECT c.id::text AS id, c.context->>'reason' AS reason FROM ${audit}.changes c
     WHERE c.table_id = $1 AND c.operation = 'DELETE' AND ($2::bigint IS NULL OR c.id < $2)
       AND NOT EXISTS (SELECT FROM ${audit}.changes l WHERE l.table_id = c.table_id AND l.row_key = c.row_key AND l.id > c.id)
     ORDER BY c.id DESC LIMIT $3`,
    [table.id, before, limit + 1],
  );
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
