import type { Queryable } from '../db/queryable.js';

/**
 * Some of a change's recorded values: only the columns asked for, and under the key "" the listing of those
 * oversized (as capture records it) and erased (an erasure of the change named the column: its value is the marker).
 */
export interface ChangeValues {
  old: Record<string, unknown> | null;
  new: Record<string, unknown> | null;
}

/** Which changes to read values of: by change id, its time (to find its partition) and the stored names wanted. */
export type ValuesWanted = ReadonlyMap<string, { changedAt: string; names: Iterable<string> }>;

/**
 * The recorded values of a few changes, only the named columns: a value may be a megabyte, and a blame shows one
 * column of each change it names. The changes' times let PostgreSQL plan for their partitions alone. A change an
 * erasure touched has its erased columns listed as history's SQL lists them (_history_erasures_listed), looked up
 * only for the table's erased changes (none: one probe of erased_changes).
 */
export async function readChangeValues(
  db: Queryable,
  s: string,
  tableId: number,
  wanted: ValuesWanted,
): Promise<Map<string, ChangeValues>> {
  if (wanted.size === 0) return new Map();
  const names = Object.fromEntries([...wanted].map(([id, want]) => [id, [...new Set([...want.names, ''])]]));
  const { rows } = await db.query<
    { id: string } & { old_values: ChangeValues['old']; new_values: ChangeValues['new'] }
  >(
    `SELECT c.id::text AS id,
       (SELECT jsonb_object_agg(w.name, r.old_values -> w.name)
        FROM jsonb_array_elements_text($3::jsonb -> (c.id::text)) AS w(name) WHERE r.old_values ? w.name) AS old_values,
       (SELECT jsonb_object_agg(w.name, r.new_values -> w.name)
        FROM jsonb_array_elements_text($3::jsonb -> (c.id::text)) AS w(name) WHERE r.new_values ? w.name) AS new_values
     FROM ${s}.changes c
     CROSS JOIN (SELECT ${s}._history_erased_ids($1) AS ids) erased
     CROSS JOIN LATERAL (SELECT
         CASE WHEN c.id = ANY (erased.ids) THEN ${s}._history_erasures_listed(c.old_values, c.id) ELSE c.old_values END,
         CASE WHEN c.id = ANY (erased.ids) THEN ${s}._history_erasures_listed(c.new_values, c.id) ELSE c.new_values END
       ) AS r(old_values, new_values)
     WHERE c.table_id = $1 AND c.id = ANY($2::bigint[]) AND c.changed_at = ANY($4::timestamptz[])`,
    [tableId, [...wanted.keys()], JSON.stringify(names), [...new Set([...wanted.values()].map((w) => w.changedAt))]],
  );
  return new Map(rows.map((row) => [row.id, { old: row.old_values, new: row.new_values }]));
}
