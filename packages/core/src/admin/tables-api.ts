import type { ApiContext } from './api-context.js';
import type { TablesResponse } from './api-types.js';
import { visibleTables } from './change-filters.js';

/**
 * `GET api/tables`: the tables the user may see, each with its columns today in table order (what the admin lists
 * a row's fields in; empty for a table dropped since), and whether the user may write. One catalog query for all.
 */
export async function listTables(api: ApiContext, canWrite: () => Promise<boolean>): Promise<TablesResponse> {
  const tables = visibleTables(api.tables, api.scope);
  const { rows } = await api.pool.query<{ id: number; columns: string[] }>(
    `SELECT t.id, coalesce(array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE a.attname IS NOT NULL), '{}') AS columns
     FROM ${api.schemaSql}.tracked_tables t
     LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE t.id = ANY ($1::int[])
     GROUP BY t.id`,
    [tables.map((table) => table.id)],
  );
  const columns = new Map(rows.map((row) => [row.id, row.columns]));
  return {
    tables: tables.map((table) => ({ ...table, columns: columns.get(table.id) ?? [] })),
    canWrite: await canWrite(),
  };
}
