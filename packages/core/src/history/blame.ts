import type { ChangeRow } from '../changes/change-row.js';
import { transactionNamer } from '../changes/transaction-name.js';
import type { Queryable } from '../db/queryable.js';
import { isPool, onOneConnection } from '../db/queryable.js';
import { inReadSnapshot } from '../db/read-snapshot.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import type { BlameTarget } from './blame-target.js';
import { liveRowExists, recordedKey, resolveTarget } from './blame-target.js';
import type { BlameChange, BlameUnknownReason, FieldBlame, RowBlame } from './blame-types.js';
import type { ChangeValues, ValuesWanted } from './change-values.js';
import { readChangeValues } from './change-values.js';
import { HistoryInputError } from './history-input-error.js';
import type { RowKeyInput } from './history-types.js';
import { keyPseudonymVersions } from './key-pseudonym-versions.js';
import { walkRowBack } from './row-walk.js';
import type { ColumnState, TableState } from './table-states.js';
import { columnsToday, stateOf } from './table-states.js';

export interface BlameOptions {
  /** The table, as `schema.table` or a name found on the search path. */
  table: string;
  /** The row's key: a value, an array in key order, or an object by key column name. */
  key: RowKeyInput;
  /** Only this column (its name today). */
  field?: string;
}

/** Each hop goes to a key's previous value (an UPDATE changed the key), over strictly older changes. */
const MAX_KEY_HOPS = 100;
const NO_LIMIT = '9223372036854775807';

/**
 * Who set each field of a row to its current value: per column of the table today, the last recorded INSERT or
 * UPDATE that wrote it (its actor, request, transaction, reason and source) with the old and new value, or why
 * that is not known. History is read under today's column names; a key that an UPDATE changed is followed back to
 * the row's earlier key. The live table is read (with the caller's rights) only for a key with no recorded change,
 * to tell a row inserted before tracking from no row at all.
 */
export async function blame(db: Queryable, schema: string, options: BlameOptions): Promise<RowBlame> {
  const s = quoteIdentifier(schema);
  return inSnapshot(db, (client) => blameIn(client, s, options));
}

/**
 * Runs `work` on a pool's connection in one read snapshot, so that the table's states and the walk's pages agree.
 * A client is used as it is: it may be inside the caller's own transaction.
 */
async function inSnapshot<T>(db: Queryable, work: (client: Queryable) => Promise<T>): Promise<T> {
  return isPool(db) ? onOneConnection(db, (client) => inReadSnapshot(client, work)) : work(db);
}

const OPTIONS = new Set(['table', 'key', 'field']);

async function blameIn(db: Queryable, s: string, options: BlameOptions): Promise<RowBlame> {
  if (options === null || typeof options !== 'object') {
    throw new HistoryInputError('auditrum: blame() takes { table, key, field? }', { problem: 'options' });
  }
  const unknown = Object.keys(options).filter((name) => !OPTIONS.has(name));
  if (unknown.length > 0) {
    throw new HistoryInputError(`auditrum: blame() has no option ${unknown.join(', ')} (it takes table, key, field)`, {
      problem: 'options',
    });
  }
  if (options.field !== undefined && typeof options.field !== 'string') {
    throw new HistoryInputError('auditrum: the field to blame must be a column name (a string)', { problem: 'field' });
  }
  const target = await resolveTarget(db, s, options.table, options.key);
  const states = target.states;
  const today = columnsToday(states);
  const wanted = options.field === undefined ? today : today.filter((column) => column.currentName === options.field);
  if (wanted.length === 0) {
    throw new HistoryInputError(
      `auditrum: table ${target.table} has no column ${JSON.stringify(options.field)} (its columns: ${today.map((c) => c.currentName).join(', ')})`,
      { problem: 'field' },
    );
  }

  const setters = new Map<number, ChangeRow>();
  const reasons = new Map<number, BlameUnknownReason>();
  let deletedBy: ChangeRow | null = null;
  let pending: ColumnState[] = wanted;
  let rowKey = target.rowKey;
  let before = NO_LIMIT;
  const keyAttnums = target.keyColumns.map((column) => column.attnum);
  for (let hop = 0; hop < MAX_KEY_HOPS && pending.length > 0; hop++) {
    const pseudonymVersions = await keyPseudonymVersions(db, s, [rowKey]);
    const walk = await walkRowBack(
      db,
      s,
      target.tableId,
      rowKey,
      before,
      states,
      pending,
      keyAttnums,
      pseudonymVersions,
    );
    if (hop === 0 && !walk.hasChanges && !(await liveRowExists(db, target))) {
      throw new HistoryInputError(
        `auditrum: table ${target.table} has no row with key ${rowKey}, now or in its history`,
        { problem: 'no_row' },
      );
    }
    // The oldest UPDATE of the life that wrote a key column, when the life has no INSERT: it may have changed the key.
    const keySetter = walk.insert === null && walk.unresolved.size > 0 ? (walk.keySetter ?? undefined) : undefined;
    const changes = walk.changes;
    for (const [attnum, id] of walk.setters) setters.set(attnum, changes.get(id) as ChangeRow);
    if (hop === 0 && walk.endedBy !== null) deletedBy = changes.get(walk.endedBy) ?? null;

    const keyChange = keySetter === undefined ? undefined : changes.get(keySetter);
    const previousKey = keyChange && (await keyBefore(db, s, keyChange, states, target, rowKey));
    pending = pending.filter((column) => walk.unresolved.has(column.attnum));
    // An old key today's key columns cannot hold (a column retyped since) ends the search there.
    const previousRowKey =
      previousKey &&
      (await recordedKey(db, s, target.relid, JSON.stringify(previousKey)).catch((error: unknown) => {
        if (error instanceof HistoryInputError) return undefined;
        throw error;
      }));
    if (keyChange && previousRowKey !== undefined) {
      rowKey = previousRowKey;
      before = keyChange.id;
      continue;
    }
    const insert = walk.insert === null ? undefined : changes.get(walk.insert);
    for (const column of pending) {
      reasons.set(column.attnum, insert ? absentFromInsert(insert, states, column) : 'before_tracking');
    }
    break;
  }

  // A restored row's transaction by its name (`txid@n`), as undo and the admin take it.
  const named = await transactionNamer(db, s);
  for (const row of [...setters.values(), ...(deletedBy === null ? [] : [deletedBy])]) {
    row.txid = named(row.id, row.txid);
  }
  const endedAt = deletedBy === null ? undefined : BigInt(deletedBy.id);
  const values = await readChangeValues(db, s, target.tableId, valuesWanted(setters, states));
  const fields = wanted.map((column) => {
    const setter = setters.get(column.attnum);
    return fieldBlame(column, setter, setter && values.get(setter.id), states, endedAt, reasons);
  });
  return {
    table: target.table,
    rowKey: target.rowKey,
    fields,
    deletedBy: deletedBy && blameChange(deletedBy),
    when: target.when,
  };
}

/** For each change that set a field, the stored names of the fields it set. */
function valuesWanted(setters: ReadonlyMap<number, ChangeRow>, states: readonly TableState[]): ValuesWanted {
  const wanted = new Map<string, { changedAt: string; names: string[] }>();
  for (const [attnum, change] of setters) {
    const stored = stateOf(states, BigInt(change.id))?.byAttnum.get(attnum)?.storedName;
    if (stored === undefined) continue;
    const want = wanted.get(change.id) ?? { changedAt: change.changed_at, names: [] };
    want.names.push(stored);
    wanted.set(change.id, want);
  }
  return wanted;
}

function fieldBlame(
  column: ColumnState,
  setter: ChangeRow | undefined,
  values: ChangeValues | undefined,
  states: readonly TableState[],
  endedAt: bigint | undefined,
  reasons: ReadonlyMap<number, BlameUnknownReason>,
): FieldBlame {
  const field = column.currentName as string;
  const recorded = setter && stateOf(states, BigInt(setter.id))?.byAttnum.get(column.attnum);
  if (!setter || !recorded) {
    return {
      field,
      change: null,
      oldValue: null,
      newValue: null,
      masked: column.masked,
      oversized: false,
      erased: false,
      // A column the rules leave out today: not knowing who set it is the rules' doing.
      unknown: column.captured ? (reasons.get(column.attnum) ?? 'before_tracking') : 'excluded',
    };
  }
  const stored = recorded.storedName;
  const erasedOld = isListed(values?.old ?? null, 'erased', stored);
  const erasedNew = isListed(values?.new ?? null, 'erased', stored);
  return {
    field,
    change: blameChange(setter),
    // An erased value is gone from the log: never its marker's text.
    oldValue: erasedOld ? null : (values?.old?.[stored] ?? null),
    newValue: erasedNew ? null : (values?.new?.[stored] ?? null),
    masked: recorded.masked,
    oversized: isListed(values?.new ?? null, 'oversized', stored) || isListed(values?.old ?? null, 'oversized', stored),
    erased: erasedOld || erasedNew,
    unknown: uncertaintyAfter(states, BigInt(setter.id), endedAt, column.attnum),
  };
}

/** Why the row's INSERT did not record the column: it did not exist yet, or the rules left it out. */
function absentFromInsert(insert: ChangeRow, states: readonly TableState[], column: ColumnState): BlameUnknownReason {
  const state = stateOf(states, BigInt(insert.id));
  return state?.byAttnum.has(column.attnum) === false ? 'added_later' : 'excluded';
}

/**
 * Whether a later change to the column may be missing after change `id` (and before the row ended): the table was
 * not tracked for a while, or its rules left the column out.
 */
function uncertaintyAfter(
  states: readonly TableState[],
  id: bigint,
  endedAt: bigint | undefined,
  attnum: number,
): BlameUnknownReason | null {
  const later = states.filter(
    (state) => state.afterChangeId >= id && (endedAt === undefined || state.afterChangeId < endedAt),
  );
  if (later.some((state) => !state.tracking)) return 'untracked_gap';
  if (later.some((state) => state.byAttnum.get(attnum)?.captured === false)) return 'excluded';
  return null;
}

/**
 * The row's key before `change`, when that UPDATE (recorded under `rowKey`) changed it: its old values hold the key
 * columns it changed (under their names then); the others keep their values in `rowKey`.
 */
async function keyBefore(
  db: Queryable,
  s: string,
  change: ChangeRow,
  states: readonly TableState[],
  target: BlameTarget,
  rowKey: string,
): Promise<unknown[] | undefined> {
  if (change.operation !== 'UPDATE') return undefined;
  const state = stateOf(states, BigInt(change.id));
  const names = target.keyColumns.map((key) => state?.byAttnum.get(key.attnum)?.storedName ?? key.name);
  const wanted = new Map([[change.id, { changedAt: change.changed_at, names }]]);
  const old = (await readChangeValues(db, s, target.tableId, wanted)).get(change.id)?.old;
  if (!old) return undefined;
  const values: unknown[] = target.keyColumns.length === 1 ? [rowKey] : JSON.parse(rowKey);
  // An erased key column's old value is not known: the key before the change cannot be followed.
  if (names.some((stored) => isListed(old, 'erased', stored))) return undefined;
  let changed = false;
  names.forEach((stored, i) => {
    if (Object.hasOwn(old, stored)) {
      values[i] = old[stored];
      changed = true;
    }
  });
  return changed ? values : undefined;
}

/**
 * Whether the stored values list the column as oversized or erased (under the key "", which no column can have: see
 * readChangeValues).
 */
function isListed(values: Record<string, unknown> | null, listing: 'oversized' | 'erased', stored: string): boolean {
  const listed = (values?.[''] as Record<string, unknown> | undefined)?.[listing];
  return Array.isArray(listed) && listed.includes(stored);
}

function blameChange(row: ChangeRow): BlameChange {
  const context = row.context ?? {};
  const text = (value: unknown) => (typeof value === 'string' ? value : null);
  const claimed = context.claimed;
  return {
    id: row.id,
    changedAt: row.changed_at,
    txid: row.txid,
    // A row's changes: DDL rows have no row key, so none is ever one.
    operation: row.operation as BlameChange['operation'],
    actorId: row.actor_id,
    actorLabel: text(context.actor_label),
    requestId: row.request_id,
    reason: text(context.reason),
    source: text(context.source) ?? 'db',
    dbUser: text(context.db_user),
    claimed:
      claimed !== null && typeof claimed === 'object' && !Array.isArray(claimed)
        ? (claimed as Record<string, unknown>)
        : null,
  };
}
