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

/**
 * The `schema.table` name the API uses for a table: each part as it is, or in double quotes (a quote doubled) when it
 * holds a dot or a quote, so that no two tables share a name: `"a"."b.c"` is `a."b.c"`, `"a.b"."c"` is `"a.b".c`.
 */
export function qualifiedName(table: TableRef): string {
  return `${namePart(table.schema)}.${namePart(table.table)}`;
}

function namePart(part: string): string {
  return /[."]/.test(part) ? `"${part.replaceAll('"', '""')}"` : part;
}

/**
 * The tables a `schema.table` name (a parameter, a scope's entry) names: the one whose qualifiedName it is; else, for
 * a name written without quotes, the tables whose schema and name joined by a dot give it. More than one table (not
 * versions of one: a dropped table and its successor share a name) means the name is ambiguous.
 */
export function tablesNamed(name: string, tables: readonly TableRef[]): TableRef[] {
  const exact = tables.filter((table) => qualifiedName(table) === name);
  if (exact.length > 0) return exact;
  return tables.filter((table) => `${table.schema}.${table.table}` === name);
}

/** Whether `named` holds more than one table (a schema and name), not several versions of one. */
export function isAmbiguous(named: readonly TableRef[]): boolean {
  return new Set(named.map(qualifiedName)).size > 1;
}
