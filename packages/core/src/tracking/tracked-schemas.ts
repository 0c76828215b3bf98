import type { Queryable } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import type { TableRules } from './table-rules.js';
import { rulesFromSql } from './table-rules.js';

/** A database schema tracked as a whole (config `schemas`), as registered in the database by `sync`. */
export interface TrackedSchemaStatus {
  schema: string;
  /** Tables of the schema left out, by bare name. */
  except: string[];
  /** The rules of the schema's tables (a table named in the config's `tables` has its own). */
  rules: TableRules;
  /** Tables created later are tracked as they are created (where the event trigger exists). */
  trackNew: boolean;
  /** Tables of the schema that are neither tracked nor left out: `sync` tracks them, `sync --check` fails. */
  untracked: string[];
}

/** The registered schemas, each with the tables of it that are not tracked. */
export async function trackedSchemas(db: Queryable, schema: string): Promise<TrackedSchemaStatus[]> {
  const s = quoteIdentifier(schema);
  const { rows } = await db.query<{
    schema_name: string;
    except_tables: string[];
    rules: Record<string, unknown>;
    track_new: boolean;
    untracked: string[];
  }>(
    `SELECT s.schema_name, s.except_tables, s.rules, s.track_new,
       ARRAY(SELECT format('%I.%I', n.nspname, c.relname)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = s.schema_name AND c.relkind IN ('r', 'p') AND NOT c.relispartition
               AND NOT c.relname = ANY (s.except_tables)
               AND NOT EXISTS (SELECT FROM ${s}.tracked_tables t WHERE t.relid = c.oid AND t.untracked_at IS NULL)
             ORDER BY c.relname) AS untracked
     FROM ${s}.tracked_schemas s ORDER BY s.schema_name`,
  );
  return rows.map((row) => {
    // A schema's rules need no key (each table's primary key is used).
    const { key, ...rest } = rulesFromSql({ key: [], ...row.rules });
    const rules: TableRules = key.length > 0 ? { ...rest, key } : rest;
    return {
      schema: row.schema_name,
      except: row.except_tables,
      rules,
      trackNew: row.track_new,
      untracked: row.untracked,
    };
  });
}

/** Registers (or updates) a schema tracked as a whole; `rules` are the SQL function's JSON (rulesToSql()). */
export async function registerSchema(
  db: Queryable,
  schema: string,
  entry: { schema: string; except: readonly string[]; rules: Record<string, unknown>; trackNew: boolean },
): Promise<void> {
  await db.query(
    `INSERT INTO ${quoteIdentifier(schema)}.tracked_schemas AS s (schema_name, except_tables, rules, track_new)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (schema_name) DO UPDATE SET except_tables = excluded.except_tables, rules = excluded.rules,
       track_new = excluded.track_new, updated_at = now()
     WHERE (s.except_tables, s.rules, s.track_new) IS DISTINCT FROM (excluded.except_tables, excluded.rules, excluded.track_new)`,
    [entry.schema, [...entry.except].sort(), JSON.stringify(entry.rules), entry.trackNew],
  );
}

/** Forgets a schema tracked as a whole; its tables stay tracked. */
export async function unregisterSchema(db: Queryable, schema: string, databaseSchema: string): Promise<void> {
  await db.query(`DELETE FROM ${quoteIdentifier(schema)}.tracked_schemas WHERE schema_name = $1`, [databaseSchema]);
}
