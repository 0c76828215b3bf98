import type { Queryable } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import { checked, checkOptions, historyQuery, inColumnOrder, keyOption, tableOption } from './history-options.js';
import type { RebuiltFrom, RowKeyInput, RowState, UnknownValue } from './history-types.js';
import type { InstantInput } from './instant.js';
import { parseInstant } from './instant.js';

export interface RowAsOfOptions {
  /** The table (`schema.table`, or found on the search_path). */
  table: string;
  /** The row's key: its value, the values in key order, or an object by key column name. */
  key: RowKeyInput;
  /** The time: a Date, or an ISO 8601 string with a zone (`Z` or an offset). */
  at: InstantInput;
}

/** What the SQL functions return for a row; shared by the row and table readers. */
export interface RowStateRow {
  row_key: string;
  values: Record<string, unknown>;
  unknown: UnknownValue[];
  last_change_id: string | null;
  last_changed_at: Date | null;
  rebuilt_from: RebuiltFrom;
}

/**
 * The row of `table` with `key` as it was at `at` (every change at or before that time applied), under today's
 * column names; values that cannot be known are listed in `unknown` with the reason. Reads with the caller's
 * rights: the role needs to read the change log and the table.
 */
export async function rowAsOf(db: Queryable, schema: string, options: RowAsOfOptions): Promise<RowState> {
  const given = checkOptions('rowAsOf', options, ['table', 'key', 'at']);
  const table = tableOption('rowAsOf', given.table);
  const key = keyOption('rowAsOf', given.key);
  const at = checked(() => parseInstant(given.at as InstantInput, 'time "at"'));
  const s = quoteIdentifier(schema);
  // One round trip: the row, and today's columns for their order.
  const { rows } = await historyQuery<RowStateRow & { exists: boolean | null; columns: string[] }>(
    db,
    table,
    `SELECT r.*, ${s}._history_columns(${s}._history_table($1::regclass)) AS columns
     FROM ${s}.row_as_of($1::regclass, $2::jsonb, $3::timestamptz) r`,
    [table, key, at],
  );
  const row = rows[0];
  if (!row) throw new Error(`auditrum: row_as_of() returned nothing for ${table}`);
  return { exists: row.exists, ...toRowState(row, row.columns) };
}

export function toRowState(row: RowStateRow, columns: readonly string[]): Omit<RowState, 'exists'> {
  return {
    rowKey: row.row_key,
    values: inColumnOrder(row.values, columns),
    unknown: row.unknown,
    lastChangeId: row.last_change_id,
    lastChangedAt: row.last_changed_at,
    rebuiltFrom: row.rebuilt_from,
  };
}
