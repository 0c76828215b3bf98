import type pg from 'pg';
import type { TableRef } from './api-types.js';

/**
 * Every table that has (or had) tracking; untracked tables keep their history under the same id. A name can be a
 * dropped table's and a newer one's (each its own history, since schema 16): the tracked one, then the newest, comes
 * first, and is the one a name finds.
 */
export async function loadTables(pool: pg.Pool, schemaSql: string): Promise<TableRef[]> {
  const { rows } = await pool.query<{ id: number; schema_name: string; table_name: string }>(
    `SELECT id, schema_name, table_name FROM ${schemaSql}.tracked_tables
     ORDER BY schema_name, table_name, untracked_at IS NOT NULL, id DESC`,
  );
  return rows.map((row) => ({ id: row.id, schema: row.schema_name, table: row.table_name }));
}

/** The `schema.table` name the API uses for a table. */
export function qualifiedName(table: TableRef): string {
  return `${table.schema}.${table.table}`;
}
