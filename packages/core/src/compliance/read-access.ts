import type { Queryable } from '../db/queryable.js';

/**
 * What the current role may not read among `tables` (SELECT) and `functions` (EXECUTE, given as `name(argtypes)`)
 * of the schema, named `schema.table` and `schema.name(argtypes)`, in the order given: a reader that lacks a grant
 * can say which, rather than fail on the first query with "permission denied".
 */
export async function unreadable(
  db: Queryable,
  schema: string,
  tables: readonly string[],
  functions: readonly string[] = [],
): Promise<string[]> {
  const { rows } = await db.query<{ missing: string[] }>(
    `SELECT ARRAY(
       SELECT o.name FROM (
         SELECT format('%I.%I', $1::text, t) AS name, n, has_table_privilege(format('%I.%I', $1::text, t), 'SELECT') AS ok
         FROM unnest($2::text[]) WITH ORDINALITY u(t, n)
         UNION ALL
         SELECT format('%I.%s', $1::text, f), 1000 + n, has_function_privilege(format('%I.%s', $1::text, f), 'EXECUTE')
         FROM unnest($3::text[]) WITH ORDINALITY u(f, n)
       ) o WHERE NOT o.ok ORDER BY o.n) AS missing`,
    [schema, tables, functions],
  );
  return rows[0]?.missing ?? [];
}
