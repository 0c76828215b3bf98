import type pg from 'pg';
import type { TableRef } from './api-types.js';

/** Every table that has (or had) tracking; untracked tables keep their history under the same id. */
export async function loadTables(pool: pg.Pool, schemaSql: string): Promise<TableRef[]> {
  const { rows } = await pool.query<{ id: number; schema_name: string; table_name: string }>(
    `SELECT id, schema_name, table_name FROM ${schemaSql}.tracked_tables ORDER BY schema_name, table_name`,
  );
  return rows.map((row) => ({ id: row.id, schema: row.schema_name, table: row.table_name }));
}

/** The `schema.table` name the API uses for a table. */
export function qualifiedName(table: TableRef): string {
  return `${table.schema}.${table.table}`;
}
