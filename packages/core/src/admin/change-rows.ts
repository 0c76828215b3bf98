import type { ChangeRow } from '../changes/change-row.js';
import type { Change, TableRef } from './api-types.js';

/**
 * A stored change as the API shows it. The trigger lifts actor id and request id into columns and keeps the
 * rest of the context (actor_label, reason, source, ...) as jsonb. Writes with no application context get
 * {source: 'db', db_user, application_name, client_addr}, with `claimed` when a role that is not the application's
 * sent a context comment; a missing source also counts as `db`.
 */
export function toChange(row: ChangeRow, tablesById: ReadonlyMap<number, TableRef>): Change {
  const table = tablesById.get(row.table_id);
  const context = row.context;
  const old = splitValues(row.old_values);
  const next = splitValues(row.new_values);
  return {
    id: row.id,
    changedAt: row.changed_at,
    txid: row.txid,
    schema: table?.schema ?? '',
    table: table?.table ?? `#${row.table_id}`,
    operation: row.operation,
    rowKey: row.row_key,
    oldValues: old.values,
    newValues: next.values,
    changedColumns: row.operation === 'UPDATE' && next.values ? Object.keys(next.values) : null,
    actor: row.actor_id === null ? null : { id: row.actor_id, label: stringOrNull(context?.actor_label) },
    requestId: row.request_id,
    reason: stringOrNull(context?.reason),
    source: stringOrNull(context?.source) ?? 'db',
    context,
    claimed: objectOrNull(context?.claimed),
    oversized: old.oversized.length + next.oversized.length > 0 ? { old: old.oversized, new: next.oversized } : null,
  };
}

/**
 * Splits a stored values object into the columns' values and the names of those whose value is an oversized
 * marker: the trigger lists them under the key "", which no column can have.
 */
function splitValues(values: Record<string, unknown> | null): {
  values: Record<string, unknown> | null;
  oversized: string[];
} {
  if (values === null || !Object.hasOwn(values, '')) return { values, oversized: [] };
  const { '': listing, ...columns } = values;
  const names = objectOrNull(listing)?.oversized;
  return { values: columns, oversized: Array.isArray(names) ? names.filter((name) => typeof name === 'string') : [] };
}

function objectOrNull(value: unknown): Record<string, unknown> | null {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}
