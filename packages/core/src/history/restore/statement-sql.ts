import { quoteIdentifier } from '../../schema/identifiers.js';
import type { RestoreTable } from './restore-table.js';

/**
 * Values and keys arrive as one JSON object each, under today's column names, read by jsonb_to_record as the named
 * columns with their types: each value is cast to its column's type by that type's own rules (numbers, booleans,
 * arrays, jsonb as JSON; timestamps, bytea, enums and user types from their text), never assigned from text. Only
 * the columns given are read: jsonb_populate_record(NULL::<table>, …) reads every column, and a domain NOT NULL
 * column left out fails ("domain … does not allow null values") even when the statement does not write it.
 */
function record(table: RestoreTable, source: string, columns: readonly string[], alias: string): string {
  const definitions = columns.map((column) => `${quoteIdentifier(column)} ${columnType(table, column)}`);
  return `jsonb_to_record(${source}) AS ${alias}(${definitions.join(', ')})`;
}

function columnType(table: RestoreTable, column: string): string {
  const type = table.columns.get(column)?.type;
  // Plans are built from the live table's columns: a column the statement names is one of them.
  if (type === undefined) throw new Error(`auditrum: column ${column} of ${table.name} does not exist`);
  return type;
}

function keyMatch(table: RestoreTable, alias: string): string {
  return table.key.map((column) => `t.${quoteIdentifier(column)} = ${alias}.${quoteIdentifier(column)}`).join(' AND ');
}

/** Sets `columns` of the row whose key is $2 to the values in $1. */
export function updateSql(table: RestoreTable, columns: readonly string[]): string {
  const set = columns.map((column) => `${quoteIdentifier(column)} = v.${quoteIdentifier(column)}`).join(', ');
  const values = record(table, '$1::jsonb', columns, 'v');
  return `UPDATE ${table.sql} AS t SET ${set} FROM ${values}, ${record(table, '$2::jsonb', table.key, 'k')} WHERE ${keyMatch(table, 'k')}`;
}

/** Inserts a row of `columns` from the values in $1 (an identity GENERATED ALWAYS gets its recorded value back). */
export function insertSql(table: RestoreTable, columns: readonly string[]): string {
  const names = columns.map(quoteIdentifier);
  const overriding = columns.some((column) => table.columns.get(column)?.identityAlways)
    ? ' OVERRIDING SYSTEM VALUE'
    : '';
  const values = record(table, '$1::jsonb', columns, 'v');
  return `INSERT INTO ${table.sql} (${names.join(', ')})${overriding} SELECT ${names.map((n) => `v.${n}`).join(', ')} FROM ${values}`;
}

/** Deletes the row whose key is $1. */
export function deleteSql(table: RestoreTable): string {
  return `DELETE FROM ${table.sql} AS t USING ${record(table, '$1::jsonb', table.key, 'k')} WHERE ${keyMatch(table, 'k')}`;
}

/**
 * Of the rows whose keys are the elements of $1 (a JSON array), the ordinals (1-based) of those that exist; with
 * `lock`, each locked FOR UPDATE in key order: the order every restore locks in, so that two do not deadlock.
 */
export function existingRowsSql(table: RestoreTable, lock: boolean): string {
  const order = table.key.map((column) => `t.${quoteIdentifier(column)}`).join(', ');
  return `SELECT e.i::int AS i FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(j, i)
    CROSS JOIN LATERAL ${record(table, 'e.j', table.key, 'k')}
    JOIN ${table.sql} AS t ON ${keyMatch(table, 'k')} ORDER BY ${order}${lock ? ' FOR UPDATE OF t' : ''}`;
}
