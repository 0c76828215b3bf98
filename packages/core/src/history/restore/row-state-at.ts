import { ERASED_VALUE } from '../../compliance/erasure-records.js';
import type { Queryable } from '../../db/queryable.js';
import { quoteIdentifier } from '../../schema/identifiers.js';
import type { UnknownValue } from '../history-types.js';
import { parseExact } from './exact-json.js';
import type { RestoreTable } from './restore-table.js';
import type { ChangeId } from './restore-types.js';

/** A row's state at a position in its history, as the as-of functions of schema 7 rebuild it. */
export interface RowStateAt {
  /** Null: not known (the row may have been deleted unseen while the table was not tracked). */
  exists: boolean | null;
  /** Known values under today's column names. */
  values: Record<string, unknown>;
  /** The same with every number's digits kept (parseExact): what a statement writes. */
  exact: Record<string, unknown>;
  unknown: UnknownValue[];
  /** The row's last change in that past (none: it was never changed, or did not exist). */
  lastChangeId: ChangeId | null;
}

/** A position: every change at or before a time, or every change before a given change, or every change (`now`). */
export type HistoryPosition = { at: string } | { beforeChange: ChangeId } | 'now';

const MAX_ID = '9223372036854775807';

/** A position as the (time, change id) pair the history SQL takes: changes at or before the time and below the id. */
export function positionBounds(position: HistoryPosition): [at: string, beforeId: string] {
  if (position === 'now') return ['infinity', MAX_ID];
  return 'at' in position ? [position.at, MAX_ID] : ['infinity', position.beforeChange];
}

/**
 * The state of the row recorded under `rowKey` at a position. The same rebuilding as auditrum.row_as_of (forwards
 * from an INSERT, or backwards from a later DELETE or the live row), reached through the function under it so that
 * a position can also be "just before change #n" and "after every change" (row_as_of takes a finite time).
 */
export async function rowStateAt(
  db: Queryable,
  schema: string,
  table: RestoreTable,
  rowKey: string,
  position: HistoryPosition,
): Promise<RowStateAt> {
  const audit = quoteIdentifier(schema);
  const [at, beforeId] = positionBounds(position);
  const { rows } = await db.query<{
    exists: boolean | null;
    values: string;
    unknown: UnknownValue[];
    last_change_id: string | null;
  }>(
    `SELECT CASE WHEN s.row_key IS NULL THEN false ELSE s."exists" END AS "exists",
       CASE WHEN s."exists" IS NOT FALSE AND s.row_key IS NOT NULL
         THEN ${audit}._history_known(s."values", x.today) ELSE '{}'::jsonb END::text AS "values",
       CASE WHEN s."exists" IS NOT FALSE AND s.row_key IS NOT NULL
         THEN ${audit}._history_unknown(s."values", s.missing, x.today) ELSE '[]'::jsonb END AS unknown,
       s.last_change_id::text AS last_change_id
     FROM (SELECT ${audit}._history_columns(t) AS today FROM ${audit}.tracked_tables t WHERE t.id = $1) x
     LEFT JOIN ${audit}._history_states($2::regclass, $3::timestamptz, $4::bigint, ARRAY[$5::text], false) s ON true`,
    [table.id, table.sql, at, beforeId, rowKey],
  );
  const row = rows[0];
  const state: RowStateAt = {
    exists: row ? row.exists : false,
    values: JSON.parse(row?.values ?? '{}') as Record<string, unknown>,
    exact: parseExact(row?.values ?? '{}') as Record<string, unknown>,
    unknown: row?.unknown ?? [],
    lastChangeId: row?.last_change_id ?? null,
  };
  return (await wasErased(db, audit, table, rowKey, state)) ? withErasedUnknown(state) : state;
}

/** Whether the state holds an erasure's marker, and an erasure touched the row's changes (so it is one). */
async function wasErased(
  db: Queryable,
  audit: string,
  table: RestoreTable,
  rowKey: string,
  state: RowStateAt,
): Promise<boolean> {
  if (!Object.values(state.values).includes(ERASED_VALUE)) return false;
  const { rows } = await db.query<{ erased: boolean }>(
    `SELECT EXISTS (SELECT FROM ${audit}.erased_changes e JOIN ${audit}.changes c ON c.id = e.change_id
       WHERE c.table_id = $1 AND c.row_key = $2) AS erased`,
    [table.id, rowKey],
  );
  return rows[0]?.erased === true;
}

/** The state with each erased value moved to the unknown ones: a restore must never write the marker back. */
function withErasedUnknown(state: RowStateAt): RowStateAt {
  const values: Record<string, unknown> = {};
  const exact: Record<string, unknown> = {};
  const unknown = [...state.unknown];
  for (const [column, value] of Object.entries(state.values)) {
    if (value === ERASED_VALUE) {
      unknown.push({ column, reason: 'erased' });
      continue;
    }
    values[column] = value;
    exact[column] = state.exact[column];
  }
  return { ...state, values, exact, unknown };
}
