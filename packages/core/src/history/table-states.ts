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

/** A row of the view column_names, as tableStatesSql() gives it. */
export interface ColumnNameRow {
  version_id: string;
  after_change_id: string;
  tracking: boolean;
  attnum: number;
  stored_name: string;
  current_name: string | null;
  key: boolean;
  captured: boolean;
  masked: boolean;
}

/**
 * SQL for every recorded state of the table whose registry id is the SQL expression `tableId`: the view
 * column_names' rows as one JSON array, oldest state first (the order that ranks the change ids they cover), for
 * tableStates(). An expression, so that a caller reads them in the statement that finds the table.
 */
export function tableStatesSql(s: string, tableId: string): string {
  return `(SELECT coalesce(jsonb_agg(jsonb_build_object('version_id', n.version_id::text,
      'after_change_id', n.after_change_id::text, 'tracking', n.tracking, 'attnum', n.attnum,
      'stored_name', n.stored_name, 'current_name', n.current_name, 'key', n.key, 'captured', n.captured,
      'masked', n.masked) ORDER BY n.after_change_id, n.version_id, n.attnum), '[]'::jsonb)
    FROM ${s}.column_names n WHERE n.table_id = ${tableId})`;
}

/** The states of tableStatesSql()'s rows, oldest first, each with its columns by stored name and by attnum. */
export function tableStates(rows: readonly ColumnNameRow[]): TableState[] {
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
