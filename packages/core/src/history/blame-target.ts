import type { Queryable } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import { HistoryInputError } from './history-input-error.js';
import { checked } from './history-options.js';
import type { RowKeyInput } from './history-types.js';
import { rowKeyJson } from './row-key-input.js';
import type { ColumnNameRow, TableState } from './table-states.js';
import { tableStates, tableStatesSql } from './table-states.js';

/** The tracked table and row blame reads. */
export interface BlameTarget {
  /** The registry id (tracked_tables.id) its changes are stored under. */
  tableId: number;
  relid: number;
  /** `schema.table`, quoted where needed. */
  table: string;
  /** The row's key as capture recorded it. */
  rowKey: string;
  /** The key as given, checked, as JSON. */
  keyJson: string;
  /** Today's key columns, in key order. */
  keyColumns: { attnum: number; name: string }[];
  /** The table's `when` rule: changes it did not keep are not in the log. */
  when: string | null;
  /** Every recorded state of its columns, oldest first. */
  states: TableState[];
}

/**
 * Resolves the table, the row_key of the key and the table's column states in one statement; an unknown or
 * untracked table or a bad key is refused.
 */
export async function resolveTarget(db: Queryable, s: string, table: string, key: RowKeyInput): Promise<BlameTarget> {
  if (typeof table !== 'string' || table.trim() === '')
    throw new HistoryInputError('auditrum: give a table name', { problem: 'table' });
  const keyJson = checked(() => rowKeyJson(key), 'key');
  const { rows } = await db
    .query<{
      relid: number | null;
      table: string | null;
      table_id: number | null;
      key_columns: { attnum: number; name: string }[] | null;
      row_key: string | null;
      when_condition: string | null;
      states: ColumnNameRow[] | null;
    }>(
      // row_key() runs only for a tracked table (CASE is evaluated lazily): it raises a clear error for a bad key.
      `SELECT c.oid::int AS relid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS table,
         t.id AS table_id, t.key_columns, t.when_condition,
         CASE WHEN t.id IS NOT NULL THEN ${s}.row_key(c.oid::regclass, $2::jsonb) END AS row_key,
         CASE WHEN t.id IS NOT NULL THEN ${tableStatesSql(s, 't.id')} END AS states
       FROM (SELECT to_regclass($1) AS oid) r
       LEFT JOIN pg_class c ON c.oid = r.oid
       LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN LATERAL (
         SELECT t.id, t.when_condition, (SELECT jsonb_agg(jsonb_build_object('attnum', a.attnum, 'name', a.attname) ORDER BY k.ord)
             FROM unnest(t.key_attnums) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum = k.num AND NOT a.attisdropped) AS key_columns
         FROM ${s}.tracked_tables t WHERE t.relid = c.oid ORDER BY t.untracked_at NULLS FIRST LIMIT 1
       ) t ON true`,
      [table, keyJson],
    )
    .catch((error: { code?: string; message?: string }) => {
      // Before PostgreSQL 16, to_regclass() raises invalid_name on a name it cannot parse.
      if (error.code === '42602')
        throw new HistoryInputError(`auditrum: no table ${JSON.stringify(table)}: ${error.message}`, {
          problem: 'table',
        });
      if (error.code === '22023') throw new HistoryInputError(error.message as string, { problem: 'key' });
      throw error;
    });
  const found = rows[0];
  if (!found || found.relid === null || found.table === null) {
    throw new HistoryInputError(`auditrum: no table ${JSON.stringify(table)}`, { problem: 'table' });
  }
  if (found.table_id === null || found.row_key === null) {
    throw new HistoryInputError(`auditrum: table ${found.table} is not tracked: it has no history`, {
      problem: 'table',
    });
  }
  return {
    tableId: found.table_id,
    relid: found.relid,
    table: found.table,
    rowKey: found.row_key,
    keyJson,
    keyColumns: found.key_columns ?? [],
    when: found.when_condition,
    states: tableStates(found.states ?? []),
  };
}

/**
 * auditrum.row_key(): the key as capture recorded it, each value read as its column's type; a key of the wrong
 * shape or a value its column cannot hold is a HistoryInputError.
 */
export async function recordedKey(db: Queryable, s: string, relid: number, keyJson: string): Promise<string> {
  try {
    const { rows } = await db.query<{ key: string }>(`SELECT ${s}.row_key($1::oid::regclass, $2::jsonb) AS key`, [
      relid,
      keyJson,
    ]);
    return rows[0]?.key as string;
  } catch (error) {
    if ((error as { code?: string }).code === '22023') {
      throw new HistoryInputError((error as Error).message, { problem: 'key' });
    }
    throw error;
  }
}

/** Whether the row exists in the table now (read with the caller's rights, through the key columns). */
export async function liveRowExists(db: Queryable, target: BlameTarget): Promise<boolean> {
  const names = target.keyColumns.map((column) => column.name);
  const key: unknown = JSON.parse(target.keyJson);
  const values: unknown[] = Array.isArray(key)
    ? key
    : typeof key === 'object' && key !== null
      ? names.map((name) => (key as Record<string, unknown>)[name])
      : [key];
  const keyObject = Object.fromEntries(names.map((name, i) => [name, values[i]]));
  const list = names.map(quoteIdentifier).join(', ');
  // target.table is quoted (quote_ident); jsonb_populate_record reads each value as its column's type.
  const { rows } = await db.query<{ found: boolean }>(
    `SELECT EXISTS (SELECT FROM ${target.table}
       WHERE (${list}) = (SELECT ${list} FROM jsonb_populate_record(NULL::${target.table}, $1::jsonb))) AS found`,
    [JSON.stringify(keyObject)],
  );
  return rows[0]?.found === true;
}
