import type { ApiContext } from './api-context.js';
import type { Change, HistoryResponse } from './api-types.js';
import { resolveTable, scopeConditions, visibleTables } from './change-filters.js';
import type { ChangeRow } from './change-rows.js';
import { CHANGE_COLUMNS, toChange } from './change-rows.js';
import type { QueryParams } from './query-params.js';
import { rowVersions, stateAt } from './row-history.js';
import { SqlParams, whereClause } from './sql-builder.js';

/**
 * `GET api/history?table&key&at`: every version of one row, oldest first, with its state after each change.
 * Served by the (table_id, row_key, id) index; the table's TRUNCATEs (stored without a key) end the row too.
 */
export async function rowHistory(api: ApiContext, params: QueryParams): Promise<HistoryResponse> {
  const table = resolveTable(params.required('table', 300), 'table', visibleTables(api.tables, api.scope));
  const key = params.required('key');
  const at = params.instant('at');
  const sql = new SqlParams();
  const conditions = [
    `c.table_id = ${sql.add(table.id)}`,
    `(c.row_key = ${sql.add(key)} OR (c.row_key IS NULL AND c.operation = 'TRUNCATE'))`,
    ...scopeConditions(api, sql),
  ];
  const { rows } = await api.pool.query<ChangeRow>(
    `SELECT ${CHANGE_COLUMNS} FROM ${api.schemaSql}.changes c WHERE ${whereClause(conditions)} ORDER BY c.id`,
    sql.values,
  );
  const versions = rowVersions(relevant(rows.map((row) => toChange(row, api.tablesById))));
  return { versions, stateAt: at === undefined ? null : stateAt(versions, at) };
}

/** Drops the table's TRUNCATEs that cannot concern the row: before its first change, or while it did not exist. */
function relevant(changes: Change[]): Change[] {
  const kept: Change[] = [];
  let exists = false;
  for (const change of changes) {
    if (change.operation === 'TRUNCATE') {
      if (!exists) continue;
      exists = false;
    } else exists = change.operation !== 'DELETE';
    kept.push(change);
  }
  return kept;
}
