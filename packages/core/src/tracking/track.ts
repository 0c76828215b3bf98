import type pg from 'pg';
import type { Queryable } from '../db/queryable.js';
import { inTransaction } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import type { TableRules } from './table-rules.js';
import { rulesToSql } from './table-rules.js';

export interface TrackResult {
  table: string;
  tableId: number | null;
  /** `tracked` (new or re-tracked), `updated` (rules changed), `unchanged`, `untracked`. */
  action: 'tracked' | 'updated' | 'unchanged' | 'untracked';
  /** The DDL that ran (or, in a dry run, would run); empty when nothing changes. */
  ddl: string;
}

export interface TrackOptions {
  /** Only report the DDL; change nothing. */
  dryRun?: boolean;
}

/**
 * Starts or updates auditing of `table` (`schema.table`, or a name found on the search_path; quote
 * mixed-case names as in SQL). All DDL runs in one transaction: bad input changes nothing.
 */
export async function track(
  db: Queryable,
  schema: string,
  table: string,
  rules: TableRules = {},
  options: TrackOptions = {},
): Promise<TrackResult> {
  const [result] = await trackTables(db, schema, [{ table, rules }], options);
  if (!result) throw new Error(`auditrum: track() returned nothing for ${table}`);
  return result;
}

/** Stops auditing `table`; its history stays. */
export async function untrack(
  db: Queryable,
  schema: string,
  table: string,
  options: TrackOptions = {},
): Promise<TrackResult> {
  const [result] = await untrackTables(db, schema, [table], options);
  if (!result) throw new Error(`auditrum: untrack() returned nothing for ${table}`);
  return result;
}

/** Tracks several tables in one transaction: if one fails (or in a dry run), none changes. */
export async function trackTables(
  db: Queryable,
  schema: string,
  requests: readonly { table: string; rules?: TableRules | undefined }[],
  options: TrackOptions = {},
): Promise<TrackResult[]> {
  const prepared = requests.map(({ table, rules = {} }) => ({ table, sqlRules: rulesToSql(table, rules) }));
  return inTransaction(
    db,
    async (client) => {
      const results: TrackResult[] = [];
      for (const { table, sqlRules } of prepared) results.push(await trackIn(client, schema, table, sqlRules));
      return results;
    },
    { rollback: options.dryRun === true },
  );
}

/** Untracks several tables in one transaction: if one fails (or in a dry run), none changes. */
export async function untrackTables(
  db: Queryable,
  schema: string,
  tables: readonly string[],
  options: TrackOptions = {},
): Promise<TrackResult[]> {
  return inTransaction(
    db,
    async (client) => {
      const results: TrackResult[] = [];
      for (const table of tables) results.push(await untrackIn(client, schema, table));
      return results;
    },
    { rollback: options.dryRun === true },
  );
}

/** track() on a client already in a transaction; `sqlRules` come from rulesToSql(). */
export async function trackIn(
  client: pg.ClientBase,
  schema: string,
  table: string,
  sqlRules: Record<string, unknown>,
): Promise<TrackResult> {
  const relid = await resolveTable(client, table);
  const { rows } = await client.query<{ result: { table_id: number; action: TrackResult['action']; ddl: string } }>(
    `SELECT ${quoteIdentifier(schema)}.track($1::oid::regclass, $2::jsonb) AS result`,
    [relid, JSON.stringify(sqlRules)],
  );
  const result = rows[0]?.result;
  if (!result) throw new Error(`auditrum: track() returned nothing for ${table}`);
  return { table, tableId: result.table_id, action: result.action, ddl: result.ddl };
}

/** untrack() on a client already in a transaction. */
export async function untrackIn(client: pg.ClientBase, schema: string, table: string): Promise<TrackResult> {
  const relid = await resolveTable(client, table);
  const { rows } = await client.query<{
    result: { table_id: number | null; action: TrackResult['action']; ddl: string };
  }>(`SELECT ${quoteIdentifier(schema)}.untrack($1::oid::regclass) AS result`, [relid]);
  const result = rows[0]?.result;
  if (!result) throw new Error(`auditrum: untrack() returned nothing for ${table}`);
  return { table, tableId: result.table_id, action: result.action, ddl: result.ddl };
}

/** The names of the ordinary and partitioned tables of a schema, for tracking a whole schema. */
export async function tablesOfSchema(db: Queryable, schema: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
     ORDER BY c.relname`,
    [schema],
  );
  if (rows.length === 0) {
    const exists = await db.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (exists.rowCount === 0) throw new Error(`auditrum: schema "${schema}" does not exist`);
  }
  return rows.map((row) => row.name);
}

/** The table's oid, or an error that names the table as given. */
export async function resolveTable(client: pg.ClientBase, table: string): Promise<number> {
  if (typeof table !== 'string' || table.trim() === '') {
    throw new TypeError('auditrum: a table name is required');
  }
  let rows: { relid: number | null }[];
  try {
    ({ rows } = await client.query<{ relid: number | null }>('SELECT to_regclass($1)::oid AS relid', [table]));
  } catch (error) {
    throw new Error(`auditrum: invalid table name ${JSON.stringify(table)}: ${(error as Error).message}`);
  }
  const relid = rows[0]?.relid;
  if (relid === null || relid === undefined) {
    throw new Error(`auditrum: table ${JSON.stringify(table)} does not exist`);
  }
  return Number(relid);
}
