import type pg from 'pg';
import type { Queryable } from '../db/queryable.js';

/**
 * The CLI runs as a superuser or the admin role, often in a database where another role (the application's, when
 * it owns the database or on PostgreSQL 14 and older) may create objects in `public`. A function or operator made
 * there that takes an argument's type exactly, where the built-in one needs a cast (`quote_ident(name)` for
 * `quote_ident(text)`, `=(oid, regtype)`), is chosen over the built-in whatever the search_path's order
 * (CVE-2018-1058), and would run with the CLI's rights: `ALTER ROLE app SUPERUSER` from `auditrum harden`. So the
 * CLI's sessions search pg_catalog alone, and the tables a user names without a schema are looked up in the schemas
 * of the search_path the session started with, by `tableInSearchPath`.
 */
export const SAFE_SEARCH_PATH = 'SET search_path = pg_catalog, pg_temp';

/** A table name as the user gave it, schema-qualified when the search_path it connected with finds it. */
export type TableInSearchPath = (name: string) => Promise<string>;

/**
 * Queues on a new connection, before anything else, the read of its search_path (the schemas it names that exist,
 * pg_catalog first, as PostgreSQL searches them) and then the safe one; returns the lookup of the tables a user
 * names in that search_path, run on `db` (the connection, or the pool it belongs to). Only a built-in of exact
 * argument types runs before: nothing in another schema can match it better. Both are queued at once, so a pool's
 * 'connect' listener has them run before the query the connection was made for.
 */
export function useSafeSearchPath(
  db: Queryable,
  client: pg.ClientBase,
): { ready: Promise<unknown>; tableInSearchPath: TableInSearchPath } {
  const schemas = client
    .query<{ schemas: string[] }>('SELECT current_schemas(true)::text[] AS schemas')
    .then(({ rows }) => rows[0]?.schemas ?? []);
  const ready = Promise.all([schemas, client.query(SAFE_SEARCH_PATH)]);
  return { ready, tableInSearchPath: async (name) => tableInSearchPath(db, await schemas, name) };
}

// What parse_ident raises for a string that is not a name.
const INVALID_PARAMETER_VALUE = '22023';

// The first schema of the list holding a relation of that name, as PostgreSQL's own lookup of a name without a
// schema. parse_ident raises on what is not a name: the name is then left for the command to refuse.
async function tableInSearchPath(db: Queryable, schemas: readonly string[], name: string): Promise<string> {
  let found: { rows: { name: string }[] };
  try {
    found = await db.query<{ name: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name
       FROM (SELECT parse_ident($2::text) AS parts) i,
         unnest($1::text[]) WITH ORDINALITY AS s(schema, ord)
         JOIN pg_namespace n ON n.nspname = s.schema
         JOIN pg_class c ON c.relnamespace = n.oid
       WHERE cardinality(i.parts) = 1 AND c.relname = i.parts[1]
       ORDER BY s.ord LIMIT 1`,
      [schemas, name],
    );
  } catch (error) {
    if ((error as { code?: string }).code === INVALID_PARAMETER_VALUE) return name;
    throw error;
  }
  return found.rows[0]?.name ?? name;
}
