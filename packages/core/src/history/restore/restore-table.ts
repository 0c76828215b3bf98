import type { Queryable } from '../../db/queryable.js';
import { quoteIdentifier } from '../../schema/identifiers.js';
import { parseExact } from './exact-json.js';
import { RestoreError } from './restore-error.js';

/** A live column of a table a restore writes to. */
export interface LiveColumn {
  name: string;
  /** Its type as SQL (format_type): what its values are read as. */
  type: string;
  /** A generated column: the database computes it, nothing writes it. */
  generated: boolean;
  /** An identity GENERATED ALWAYS: an INSERT of its value needs OVERRIDING SYSTEM VALUE, an UPDATE cannot set it. */
  identityAlways: boolean;
}

/** A tracked table as a restore sees it now. */
export interface RestoreTable {
  id: number;
  /** `schema.table` quoted as SQL needs it: the only way the table's name enters a statement. */
  sql: string;
  /** `schema.table` for messages and plans. */
  name: string;
  /** Whether changes to it are captured now (a restore's writes must be). */
  tracking: boolean;
  /** The key columns' names today, in key order. */
  key: string[];
  columns: Map<string, LiveColumn>;
}

interface TableRow {
  id: number;
  schema_name: string;
  table_name: string;
  tracking: boolean;
  key: string[] | null;
  columns: { name: string; type: string; generated: boolean; identity_always: boolean }[] | null;
}

function tableQuery(schema: string, where: string): string {
  return `SELECT t.id, n.nspname AS schema_name, c.relname AS table_name, t.untracked_at IS NULL AS tracking,
      (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(t.key_attnums) WITH ORDINALITY AS k(num, ord)
       JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum = k.num AND NOT a.attisdropped) AS key,
      (SELECT jsonb_agg(jsonb_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
         'generated', a.attgenerated <> '',
         'identity_always', a.attidentity = 'a') ORDER BY a.attnum)
       FROM pg_attribute a WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
    FROM ${quoteIdentifier(schema)}.tracked_tables t
    JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE ${where}`;
}

/** The tracked table a user names (`schema.table`, or a name the search path finds); a clear error otherwise. */
export async function tableByName(db: Queryable, schema: string, name: unknown): Promise<RestoreTable> {
  if (typeof name !== 'string' || name.trim() === '') throw new RestoreError('invalid', 'give a table name');
  let rows: TableRow[];
  try {
    ({ rows } = await db.query<TableRow>(tableQuery(schema, 't.relid = to_regclass($1)'), [name]));
  } catch (error) {
    // to_regclass raises on a name that is not even syntactically one (PostgreSQL 15): no such table either.
    if ((error as { code?: string }).code !== '42602') throw error;
    rows = [];
  }
  const row = rows[0];
  if (row === undefined) throw new RestoreError('invalid', `no tracked table ${JSON.stringify(name)}`);
  return liveTable(row);
}

/** The tables of the given registry ids (those of a set of changes), by id; a dropped table is a clear error. */
export async function tablesById(
  db: Queryable,
  schema: string,
  ids: readonly number[],
): Promise<Map<number, RestoreTable>> {
  const { rows } = await db.query<TableRow>(tableQuery(schema, 't.id = ANY($1::int[])'), [ids]);
  const tables = new Map(rows.map((row) => [row.id, liveTable(row)]));
  const missing = ids.find((id) => !tables.has(id));
  if (missing !== undefined) {
    const { rows: gone } = await db.query<{ name: string }>(
      `SELECT format('%s.%s', schema_name, table_name) AS name FROM ${quoteIdentifier(schema)}.tracked_tables WHERE id = $1`,
      [missing],
    );
    throw new RestoreError(
      'invalid',
      `table ${gone[0]?.name ?? `#${missing}`} no longer exists: there is no row to restore into`,
    );
  }
  return tables;
}

function liveTable(row: TableRow): RestoreTable {
  const name = `${row.schema_name}.${row.table_name}`;
  const key = row.key ?? [];
  return {
    id: row.id,
    sql: `${quoteIdentifier(row.schema_name)}.${quoteIdentifier(row.table_name)}`,
    name,
    tracking: row.tracking,
    key,
    columns: new Map(
      (row.columns ?? []).map((c) => [
        c.name,
        { name: c.name, type: c.type, generated: c.generated, identityAlways: c.identity_always },
      ]),
    ),
  };
}

/**
 * The key of a row as a JSON object under today's key column names, from the row_key the log records (the value's
 * text for a one-column key, a JSON array for several): jsonb_to_record reads it as the key columns' types.
 */
export function keyObject(table: RestoreTable, rowKey: string): Record<string, unknown> {
  if (table.key.length === 1) return { [table.key[0] as string]: rowKey };
  const values = parseExact(rowKey) as unknown[];
  return Object.fromEntries(table.key.map((column, i) => [column, values[i]]));
}
