import type { TablesResponse } from '@auditrum/core/admin';
import { createContext, useCallback } from 'react';
import { useRoute } from './routes.ts';
import type { ApiState } from './use-api.ts';

/** The columns of a table (`schema.table`) today, in table order; empty when not known (stored order is kept). */
export type ColumnsOf = (table: string) => string[];

/** Lists of changes (ChangesTable) read the columns from here; the page that shows one provides them. */
export const TableColumnsContext = createContext<ColumnsOf>(() => []);

/** The column lookup for an `api/tables` answer (none until it answers). */
export function useColumnsOf(tables: ApiState<TablesResponse>): ColumnsOf {
  const list = tables.status === 'ok' ? tables.data.tables : null;
  return useCallback((table: string) => list?.find((t) => `${t.schema}.${t.table}` === table)?.columns ?? [], [list]);
}

/**
 * What `api/tables` tells a page, asked once: whether this user may write (revert, restore, undelete, undo; false
 * until it answers and on a read-only mount: the server refuses writes on its own, this only hides the buttons) and
 * each table's columns in table order (what a row's fields are shown in). Not asked when not `needed`.
 */
export function useTables(needed = true): { canWrite: boolean; columnsOf: ColumnsOf } {
  const tables = useRoute('tables', needed ? {} : null);
  const columnsOf = useColumnsOf(tables);
  return { canWrite: tables.status === 'ok' && tables.data.canWrite === true, columnsOf };
}
