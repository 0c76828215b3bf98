import type { Queryable } from '../db/queryable.js';

/** One column in one recorded state of a tracked table (a row of the view column_names). */
export interface ColumnState {
  attnum: number;
  /** What capture called the column in this state: the key of its values in the change rows. */
  storedName: string;
  /** Its name today; null when it was dropped since. */
  currentName: string | null;
  key: boolean;
  /** False: the table's rules left the column out of the recorded values. */
  captured: boolean;
  /** Its values were recorded as hashes or markers. */
  masked: boolean;
}

/** One state of a tracked table's columns and tracking, covering the changes with ids in (afterChangeId, next]. */
export interface TableState {
  versionId: string;
  afterChangeId: bigint;
  tracking: boolean;
  columns: Map<string, ColumnState>;
  byAttnum: Map<number, ColumnState>;
}

/** Every recorded state of a table's columns, oldest first (the order that ranks the change ids they cover). */
export async function readTableStates(db: Queryable, s: string, tableId: number): Promise<TableState[]> {
  const { rows } = await db.query<{
    version_id: string;
    after_change_id: string;
    tracking: boolean;
    attnum: number;
    stored_name: string;
    current_name: string | null;
    key: boolean;
    captured: boolean;
    masked: boolean;
  }>(
    `SELECT version_id::text, after_change_id::text, tracking, attnum, stored_name, current_name, key, captured, masked
     FROM ${s}.column_names WHERE table_id = $1 ORDER BY after_change_id, version_id, attnum`,
    [tableId],
  );
  const states: TableState[] = [];
  for (const row of rows) {
    let state = states.at(-1);
    if (state?.versionId !== row.version_id) {
      state = {
        versionId: row.version_id,
        afterChangeId: BigInt(row.after_change_id),
        tracking: row.tracking,
        columns: new Map(),
        byAttnum: new Map(),
      };
      states.push(state);
    }
    const column: ColumnState = {
      attnum: row.attnum,
      storedName: row.stored_name,
      currentName: row.current_name,
      key: row.key,
      captured: row.captured,
      masked: row.masked,
    };
    state.columns.set(column.storedName, column);
    state.byAttnum.set(column.attnum, column);
  }
  return states;
}

/** The table's columns today, in column order: those of its latest state that still exist. */
export function columnsToday(states: readonly TableState[]): ColumnState[] {
  return [...(states.at(-1)?.byAttnum.values() ?? [])].filter((column) => column.currentName !== null);
}

/** The state a change was captured in: the latest whose after_change_id is below its id. */
export function stateOf(states: readonly TableState[], id: bigint): TableState | undefined {
  return states.findLast((state) => state.afterChangeId < id);
}
