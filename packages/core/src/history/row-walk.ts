import type { ChangeRow } from '../changes/change-row.js';
import type { Queryable } from '../db/queryable.js';
import type { ColumnState, TableState } from './table-states.js';
import { stateOf } from './table-states.js';

/** Where a walk back over a row's changes ended, and who last wrote each column asked for. */
export interface RowWalk {
  /** Whether the key has any change of its own in the log (below the walk's start). */
  hasChanges: boolean;
  /** Per column (attnum): the id of the latest change of the row's current life that wrote it. */
  setters: Map<number, string>;
  /** The columns asked for that no change of the life wrote. */
  unresolved: Set<number>;
  /**
   * The oldest change of the life reached that wrote a key column: when the life has no INSERT, the UPDATE that
   * may have moved the row to this key.
   */
  keySetter: string | null;
  /** The INSERT that began the row's current life, when it is recorded and was reached. */
  insert: string | null;
  /** The DELETE of the row (or TRUNCATE of the table) after its last INSERT or UPDATE. */
  endedBy: string | null;
  /** The changes named above by id, without their values (old_values and new_values are null). */
  changes: Map<string, ChangeRow>;
}

interface WalkStep extends ChangeRow {
  own: boolean;
  /** The stored names in its new values (INSERT, UPDATE). */
  names: string[] | null;
}

/**
 * The newest changes are read whole (most fields of a busy row were written recently); the rest only where an
 * UPDATE wrote a column still unresolved, tested in SQL (`?|`), so a row of 10,000 versions whose other fields
 * were set by its INSERT costs one pass over the index with a cheap filter and returns a handful of rows.
 */
const FIRST_PAGE = 64;
const PAGE = 500;

/**
 * Walks back over one key's changes with ids below `before` (its own, and the table's TRUNCATEs, newest first) to
 * the start of the row's current life (its INSERT, or the DELETE or TRUNCATE before it), finding per column the
 * latest change that wrote it. Stops as soon as every column asked for is found; until then it also watches for
 * the changes that wrote a key column (`keyAttnums`: an UPDATE there may have changed the key). The key's versions
 * in `pseudonymVersions` (keyPseudonymVersions: an erased row's, under a pseudonym of the same text) are passed over.
 */
export async function walkRowBack(
  db: Queryable,
  s: string,
  tableId: number,
  rowKey: string,
  before: string,
  states: readonly TableState[],
  columns: readonly ColumnState[],
  keyAttnums: readonly number[],
  pseudonymVersions: ReadonlySet<string> = new Set(),
): Promise<RowWalk> {
  const keys = new Set(keyAttnums);
  const walk: RowWalk = {
    hasChanges: false,
    setters: new Map(),
    unresolved: new Set(columns.map((column) => column.attnum)),
    keySetter: null,
    insert: null,
    endedBy: null,
    changes: new Map(),
  };
  let lastSet: string | null = null;
  let newestOwnDelete: string | null = null;
  let cursor = before;
  let limit = FIRST_PAGE;
  for (;;) {
    // Until the row's last INSERT or UPDATE is found every change counts (what ended the row comes after it).
    const filter = lastSet === null ? null : storedNames(states, new Set([...walk.unresolved, ...keys]));
    const page = await readPage(db, s, tableId, rowKey, cursor, filter, limit);
    for (const step of page) {
      if (step.own && pseudonymVersions.has(step.id)) continue;
      walk.hasChanges ||= step.own;
      if (step.operation === 'DELETE' || step.operation === 'TRUNCATE') {
        if (lastSet !== null) return walk;
        walk.endedBy = step.id;
        walk.changes.set(step.id, step);
        if (step.own && newestOwnDelete === null) newestOwnDelete = step.id;
        continue;
      }
      lastSet ??= step.id;
      const state = stateOf(states, BigInt(step.id));
      for (const name of step.names ?? []) {
        const column = state?.columns.get(name);
        if (column && walk.unresolved.delete(column.attnum)) {
          walk.setters.set(column.attnum, step.id);
          walk.changes.set(step.id, step);
        }
        if (column && keys.has(column.attnum) && walk.keySetter !== step.id) {
          walk.keySetter = step.id;
          walk.changes.set(step.id, step);
        }
      }
      if (step.operation === 'INSERT') {
        walk.insert = step.id;
        walk.changes.set(step.id, step);
        return walk;
      }
      if (walk.unresolved.size === 0) return walk;
    }
    const last = page.at(-1);
    if (!last || page.length < limit) break;
    cursor = last.id;
    limit = PAGE;
  }
  // No INSERT or UPDATE at all: the row existed before tracking; its last DELETE is what ended it.
  if (lastSet === null) walk.endedBy = newestOwnDelete;
  return walk;
}

/** Every name the columns were recorded under, in any state. */
function storedNames(states: readonly TableState[], attnums: ReadonlySet<number>): string[] {
  const names = new Set<string>();
  for (const state of states) {
    for (const attnum of attnums) {
      const column = state.byAttnum.get(attnum);
      if (column) names.add(column.storedName);
    }
  }
  return [...names];
}

/**
 * One page of the walk, newest first: the key's changes (with `filter`, only INSERT, DELETE and the UPDATEs that
 * wrote one of those stored names) merged with the table's TRUNCATEs, from the (table_id, row_key, id) index, read
 * by the schema's _history_walk_page (whose plan the session keeps).
 */
async function readPage(
  db: Queryable,
  s: string,
  tableId: number,
  rowKey: string,
  before: string,
  filter: string[] | null,
  limit: number,
): Promise<WalkStep[]> {
  // Each change's facts without its values (a value may be a megabyte; blame.ts reads those it shows, apart).
  const { rows } = await db.query<WalkStep>(
    `SELECT w.*, NULL AS old_values, NULL AS new_values
     FROM ${s}._history_walk_page($1::integer, $2::text, $3::bigint, $4::text[], $5::integer) w`,
    [tableId, rowKey, before, filter, limit],
  );
  return rows;
}
