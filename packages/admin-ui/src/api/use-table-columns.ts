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

/** The columns of each table, as `api/tables` lists them: what a row's fields are shown in (not asked when not `needed`). */
export function useTableColumns(needed = true): ColumnsOf {
  return useColumnsOf(useRoute('tables', needed ? {} : null));
}
