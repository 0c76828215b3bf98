import type { Change, ChangeOperation, TableRef } from './api-types.js';

/** The select list every change query uses; times as ISO strings with microseconds, bigints as text. */
export const CHANGE_COLUMNS = `c.id::text AS id,
  to_char(c.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS changed_at,
  c.txid::text AS txid, c.table_id, c.operation, c.row_key, c.old_values, c.new_values, c.actor_id, c.request_id,
  c.context`;

export interface ChangeRow {
  id: string;
  changed_at: string;
  txid: string;
  table_id: number;
  operation: ChangeOperation;
  row_key: string | null;
  old_values: Record<string, unknown> | null;
  new_values: Record<string, unknown> | null;
  actor_id: string | null;
  request_id: string | null;
  context: Record<string, unknown> | null;
}

/**
 * A stored change as the API shows it. The trigger lifts actor id and request id into columns and keeps the
 * rest of the context (actor_label, reason, source, ...) as jsonb. Writes with no application context get
 * {source: 'db', db_user, application_name, client_addr}; a missing source also counts as `db`.
 */
export function toChange(row: ChangeRow, tablesById: ReadonlyMap<number, TableRef>): Change {
  const table = tablesById.get(row.table_id);
  const context = row.context;
  return {
    id: row.id,
    changedAt: row.changed_at,
    txid: row.txid,
    schema: table?.schema ?? '',
    table: table?.table ?? `#${row.table_id}`,
    operation: row.operation,
    rowKey: row.row_key,
    oldValues: row.old_values,
    newValues: row.new_values,
    changedColumns: row.operation === 'UPDATE' && row.new_values ? Object.keys(row.new_values) : null,
    actor: row.actor_id === null ? null : { id: row.actor_id, label: stringOrNull(context?.actor_label) },
    requestId: row.request_id,
    reason: stringOrNull(context?.reason),
    source: stringOrNull(context?.source) ?? 'db',
    context,
  };
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}
