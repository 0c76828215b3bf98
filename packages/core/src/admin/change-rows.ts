import type { ChangeRow } from '../changes/change-row.js';
import { ERASED_VALUE } from '../compliance/erasure-records.js';
import { pseudonymErasures } from './actor-pseudonyms.js';
import type { ApiContext } from './api-context.js';
import type { Change, TableRef } from './api-types.js';

/** The columns of a change's old and new values that an erasure replaced (see Change.erased). */
type ErasedColumns = NonNullable<Change['erased']>;

/** What erasures made of a change: its values erased, its actor id's and its row key's pseudonyms' erasures. */
export interface ChangeMarks {
  erased?: ErasedColumns | undefined;
  actorErasure?: string | undefined;
  keyErasure?: string | undefined;
}

/**
 * Stored changes as the API shows them (toChange), each value an erasure replaced as null and listed in `erased`,
 * an actor id or a row key that an erasure made its pseudonym with that erasure (pseudonymMarks).
 * Whether a value holding the erasure's marker was erased is history's own rule (_history_erasures_listed: an erasure
 * of the change named its column), asked only for the rows holding the marker (none: no query), and only of what
 * the admin's role may read (_history_erased_ids: a role that may not read erasures sees the marker as before).
 */
export async function toChanges(api: ApiContext, rows: readonly ChangeRow[]): Promise<Change[]> {
  const [erased, marks] = await Promise.all([erasedColumns(api, rows), pseudonymMarks(api, rows)]);
  return rows.map((row) => toChange(row, api.tablesById, { ...marks(row.id), erased: erased.get(row.id) }));
}

/** Which erasure's pseudonym each change's actor id and row key are, if any (pseudonymErasures). */
export async function pseudonymMarks(
  api: Pick<ApiContext, 'pool' | 'schema' | 'schemaSql'>,
  rows: readonly ChangeRow[],
): Promise<(id: string) => Omit<ChangeMarks, 'erased'>> {
  const [actors, keys] = await Promise.all([
    pseudonymErasures(
      api,
      'changes',
      rows.map((row) => ({ id: row.id, text: row.actor_id })),
    ),
    pseudonymErasures(
      api,
      'change_keys',
      rows.map((row) => ({ id: row.id, text: row.row_key })),
    ),
  ]);
  return (id) => ({ actorErasure: actors.get(id), keyErasure: keys.get(id) });
}

async function erasedColumns(api: ApiContext, rows: readonly ChangeRow[]): Promise<Map<string, ErasedColumns>> {
  // Only the columns that hold the marker are sent back: a change's other values may be large.
  const marked = rows.flatMap((row) => {
    const [old, next] = [markerColumns(row.old_values), markerColumns(row.new_values)];
    return old === null && next === null ? [] : [{ id: row.id, table: row.table_id, old, next }];
  });
  if (marked.length === 0) return new Map();
  const s = api.schemaSql;
  const { rows: listed } = await api.pool.query<{ id: string; old: string[] | null; new: string[] | null }>(
    `WITH c AS (SELECT * FROM unnest($1::bigint[], $2::integer[], $3::jsonb[], $4::jsonb[])
       AS c(id, table_id, old_values, new_values)),
     erased AS (SELECT t.table_id, ${s}._history_erased_ids(t.table_id) AS ids FROM (SELECT DISTINCT table_id FROM c) t)
     SELECT c.id::text AS id,
       ARRAY(SELECT jsonb_array_elements_text(${s}._history_erasures_listed(c.old_values, c.id) -> '' -> 'erased')) AS old,
       ARRAY(SELECT jsonb_array_elements_text(${s}._history_erasures_listed(c.new_values, c.id) -> '' -> 'erased')) AS new
     FROM c JOIN erased ON erased.table_id = c.table_id AND c.id = ANY (erased.ids)`,
    [
      marked.map((row) => row.id),
      marked.map((row) => row.table),
      marked.map((row) => row.old),
      marked.map((row) => row.next),
    ],
  );
  return new Map(
    listed
      .filter((row) => (row.old?.length ?? 0) + (row.new?.length ?? 0) > 0)
      .map((row) => [row.id, { old: row.old ?? [], new: row.new ?? [] }]),
  );
}

/** The values among `values` that hold the erasure's marker, or null when none does. */
function markerColumns(values: Record<string, unknown> | null): Record<string, unknown> | null {
  const marked = Object.entries(values ?? {}).filter(([, value]) => value === ERASED_VALUE);
  return marked.length === 0 ? null : Object.fromEntries(marked);
}

/**
 * A stored change as the API shows it. The trigger lifts actor id and request id into columns and keeps the
 * rest of the context (actor_label, reason, source, ...) as jsonb. Writes with no application context get
 * {source: 'db', db_user, application_name, client_addr}, with `claimed` when a role that is not the application's
 * sent a context comment; a missing source also counts as `db`.
 */
export function toChange(
  row: ChangeRow,
  tablesById: ReadonlyMap<number, TableRef>,
  { erased, actorErasure, keyErasure }: ChangeMarks = {},
): Change {
  const table = tablesById.get(row.table_id);
  const context = row.context;
  const old = splitValues(withoutErased(row.old_values, erased?.old));
  const next = splitValues(withoutErased(row.new_values, erased?.new));
  return {
    id: row.id,
    changedAt: row.changed_at,
    txid: row.txid,
    schema: table?.schema ?? '',
    table: table?.table ?? `#${row.table_id}`,
    operation: row.operation,
    rowKey: row.row_key,
    ...(keyErasure === undefined ? {} : { keyErasure }),
    oldValues: old.values,
    newValues: next.values,
    changedColumns: row.operation === 'UPDATE' && next.values ? Object.keys(next.values) : null,
    actor:
      row.actor_id === null
        ? null
        : {
            id: row.actor_id,
            label: stringOrNull(context?.actor_label),
            ...(actorErasure === undefined ? {} : { erasure: actorErasure }),
          },
    requestId: row.request_id,
    reason: stringOrNull(context?.reason),
    source: stringOrNull(context?.source) ?? 'db',
    context,
    claimed: objectOrNull(context?.claimed),
    oversized: old.oversized.length + next.oversized.length > 0 ? { old: old.oversized, new: next.oversized } : null,
    erased: erased ?? null,
  };
}

/** The values with each erased column's marker replaced by null: an erased value is never shown as one. */
function withoutErased(values: Record<string, unknown> | null, erased: readonly string[] | undefined) {
  if (values === null || erased === undefined || erased.length === 0) return values;
  return { ...values, ...Object.fromEntries(erased.map((column) => [column, null])) };
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
