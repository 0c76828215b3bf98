import { sealBounds } from '../../changes/seal-bounds.js';
import type { TransactionStretch } from '../../changes/transaction-name.js';
import { parseTransactionName, transactionNameSql, transactionStretch } from '../../changes/transaction-name.js';
import { ERASED_VALUE } from '../../compliance/erasure-records.js';
import type { Queryable } from '../../db/queryable.js';
import { quoteIdentifier } from '../../schema/identifiers.js';
import { restorePending } from '../../schema/restore-boundary.js';
import { keyPseudonymVersions } from '../key-pseudonym-versions.js';
import { parseExact } from './exact-json.js';
import { RestoreError } from './restore-error.js';
import type { ChangeId } from './restore-types.js';

/** A recorded value, under today's column name; `problem` says why it is not the value itself. */
export interface LoggedValue {
  /** The value as JSON (numbers as doubles): what a plan shows. */
  value: unknown;
  /** The same with every number's digits kept (parseExact): what a statement writes. */
  exact: unknown;
  problem?: 'masked' | 'oversized' | 'erased';
}

/** A change row read for a restore: its values under today's column names. */
export interface LoggedChange {
  id: ChangeId;
  tableId: number;
  operation: 'INSERT' | 'UPDATE' | 'DELETE' | 'TRUNCATE';
  rowKey: string | null;
  txid: string;
  actorId: string | null;
  requestId: string | null;
  changedAt: Date;
  oldValues: Map<string, LoggedValue> | null;
  newValues: Map<string, LoggedValue> | null;
  /** Names (as recorded) of values whose column was dropped since. */
  dropped: string[];
  /** Today's names of the columns the rules left out of the recorded values when the change was captured. */
  notCaptured: string[];
  /** Today's names of the columns the table had when the change was captured. */
  columnsThen: string[];
  /**
   * Whether `rowKey` is the pseudonym an erasure of the row's key gave (keyPseudonymVersions): which row it was is no
   * longer recorded, and a real row may have that key.
   */
  keyErased: boolean;
}

interface ColumnState {
  stored: string;
  current: string | null;
  captured: boolean;
  masked: boolean;
}

interface ChangeRow {
  id: string;
  table_id: number;
  operation: LoggedChange['operation'];
  row_key: string | null;
  txid: string;
  actor_id: string | null;
  request_id: string | null;
  changed_at: Date;
  old_values: string | null;
  new_values: string | null;
  state: ColumnState[] | null;
}

/** Which change rows to read: their ids, a request's, or a transaction's. */
export type ChangeFilter = { ids: readonly ChangeId[] } | { requestId: string } | { txid: string };

const FILTERS: Record<string, string> = {
  ids: 'c.id = ANY($1::bigint[])',
  requestId: 'c.request_id = $1',
  // A transaction is read within the ids the seals around it allow ($2, $3: seal-bounds.ts): the months that have
  // ended by their txid index (migration 26), the current month (no index: it would slow every capture) in full.
  txid: 'c.txid = $1::bigint AND ($2::bigint IS NULL OR c.id > $2::bigint) AND ($3::bigint IS NULL OR c.id <= $3::bigint)',
};

/** The change rows that match, oldest first, each with its values under today's column names. */
export async function loggedChanges(db: Queryable, schema: string, filter: ChangeFilter): Promise<LoggedChange[]> {
  const audit = quoteIdentifier(schema);
  const [name, given] = Object.entries(filter)[0] as [string, unknown];
  const stretch = 'txid' in filter ? await stretchOf(db, audit, filter.txid) : undefined;
  const value = stretch?.txid ?? given;
  const bounds = stretch && (await sealBounds(db, audit, schema, stretch));
  // The state of the table's columns each change was captured in (after_change_id < id <= until_change_id), each
  // state read once: a request's thousand changes share one or two.
  const { rows } = await db.query<ChangeRow>(
    `WITH c AS MATERIALIZED (
       SELECT c.id, c.table_id, c.operation, c.row_key, c.txid, c.actor_id, c.request_id, c.changed_at, c.old_values,
         c.new_values
       FROM ${audit}.changes c WHERE ${FILTERS[name]}
     ),
     s AS (
       SELECT n.table_id, n.after_change_id, n.until_change_id,
         jsonb_agg(jsonb_build_object('stored', n.stored_name, 'current', n.current_name, 'captured', n.captured,
           'masked', n.masked)) AS state
       FROM ${audit}.column_names n WHERE n.table_id IN (SELECT DISTINCT c.table_id FROM c)
       GROUP BY n.table_id, n.version_id, n.after_change_id, n.until_change_id
     )
     SELECT c.id::text AS id, c.table_id, c.operation, c.row_key, ${transactionNameSql(audit, 'c')} AS txid,
       c.actor_id, c.request_id,
       c.changed_at, c.old_values::text AS old_values, c.new_values::text AS new_values, s.state
     FROM c LEFT JOIN s ON s.table_id = c.table_id AND s.after_change_id < c.id AND c.id <= s.until_change_id
     ORDER BY c.id`,
    bounds === undefined ? [value] : [value, bounds.after, bounds.upTo],
  );
  const [erased, keyErased] = await Promise.all([
    erasedAmong(db, audit, rows),
    keyPseudonymVersions(
      db,
      audit,
      rows.map((row) => row.row_key),
      'refuse',
    ),
  ]);
  return rows.map((row) => toLoggedChange(row, erased.has(row.id), keyErased.has(row.id)));
}

/**
 * Where transaction `name` (`txid`, or `txid@n` restored: transaction-name.ts) lies; refused on a restored log whose
 * boundary is not recorded (a txid there may name a restored transaction and one of this cluster).
 */
async function stretchOf(db: Queryable, audit: string, name: string): Promise<TransactionStretch> {
  const parsed = parseTransactionName(name);
  if (parsed === undefined) throw new RestoreError('invalid', `${JSON.stringify(name)} is not a transaction id`);
  const pending = await restorePending(db, audit);
  if (pending !== null) throw new RestoreError('conflict', pending);
  const stretch = await transactionStretch(db, audit, parsed);
  if (stretch === undefined) {
    throw new RestoreError('invalid', `transaction ${name}: this log has no restore boundary ${parsed.boundary}`);
  }
  return stretch;
}

/**
 * The changes among `rows` an erasure touched, looked up only for those holding the erasure's marker: a role that
 * restores reads `erased_changes` only when there is one (and is refused, restoring nothing, if it may not).
 */
async function erasedAmong(db: Queryable, audit: string, rows: readonly ChangeRow[]): Promise<Set<string>> {
  const marked = rows
    .filter((row) => `${row.old_values}${row.new_values}`.includes(JSON.stringify(ERASED_VALUE)))
    .map((row) => row.id);
  if (marked.length === 0) return new Set();
  const { rows: erased } = await db.query<{ id: string }>(
    `SELECT DISTINCT change_id::text AS id FROM ${audit}.erased_changes WHERE change_id = ANY ($1::bigint[])`,
    [marked],
  );
  return new Set(erased.map((row) => row.id));
}

function toLoggedChange(row: ChangeRow, erased: boolean, keyErased: boolean): LoggedChange {
  const state = row.state ?? [];
  const byStored = new Map(state.map((column) => [column.stored, column]));
  const dropped = new Set<string>();
  const underCurrentNames = (text: string | null): Map<string, LoggedValue> | null => {
    if (text === null) return null;
    const values = JSON.parse(text) as Record<string, unknown>;
    const exactValues = parseExact(text) as Record<string, unknown>;
    // The key "" holds {"oversized": [columns]}: those whose values were over the size limit (kept as markers).
    const listed = (values[''] as { oversized?: unknown } | undefined)?.oversized;
    const oversized = new Set(Array.isArray(listed) ? (listed as string[]) : []);
    const result = new Map<string, LoggedValue>();
    for (const [stored, value] of Object.entries(values)) {
      if (stored === '') continue;
      const column = byStored.get(stored);
      // No recorded state (history older than schema 6): the name it was recorded with.
      const current = column === undefined ? stored : column.current;
      if (current === null) {
        dropped.add(stored);
        continue;
      }
      const problem = oversized.has(stored)
        ? 'oversized'
        : column?.masked && value !== null // a masked NULL is recorded as NULL: it is known
          ? 'masked'
          : erased && value === ERASED_VALUE
            ? 'erased'
            : undefined;
      const logged: LoggedValue = { value, exact: exactValues[stored] };
      result.set(current, problem === undefined ? logged : { ...logged, problem });
    }
    return result;
  };
  return {
    id: row.id,
    tableId: row.table_id,
    operation: row.operation,
    rowKey: row.row_key,
    txid: row.txid,
    actorId: row.actor_id,
    requestId: row.request_id,
    changedAt: row.changed_at,
    oldValues: underCurrentNames(row.old_values),
    newValues: underCurrentNames(row.new_values),
    dropped: [...dropped],
    notCaptured: state.filter((c) => !c.captured && c.current !== null).map((c) => c.current as string),
    columnsThen: state.filter((c) => c.current !== null).map((c) => c.current as string),
    keyErased,
  };
}
