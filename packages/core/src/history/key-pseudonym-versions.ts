import { erasureOfActorId } from '../compliance/erasure-records.js';
import type { Queryable } from '../db/queryable.js';

/**
 * Of the row keys a history reader reads, the versions (change ids) that hold an erasure's key pseudonym: a key that
 * reads `erased:7` may be a real row's, and erasure 7's versions (when it erased a key column: its erased_changes,
 * `_key_pseudonym_erasure` in SQL) are another row's. Asked only for keys of that form (none: no query). A role that
 * may not read the erasures' records cannot tell: a reader then reads the key by its text as before (`readAsText`),
 * a restore is refused with "permission denied" (it would write to a row it cannot tell).
 */
export async function keyPseudonymVersions(
  db: Queryable,
  schemaSql: string,
  rowKeys: readonly (string | null)[],
  unreadable: 'readAsText' | 'refuse' = 'readAsText',
): Promise<ReadonlySet<string>> {
  const candidates = [
    ...new Set(rowKeys.filter((key): key is string => key !== null && erasureOfActorId(key) !== null)),
  ];
  if (candidates.length === 0) return new Set();
  if (unreadable === 'readAsText') {
    const { rows } = await db.query<{ readable: boolean }>(
      `SELECT has_table_privilege($1 || '.erasures', 'SELECT') AND has_table_privilege($1 || '.erased_changes', 'SELECT')
         AND has_function_privilege($1 || '._key_pseudonym_erasure(text)', 'EXECUTE') AS readable`,
      [schemaSql],
    );
    if (rows[0]?.readable !== true) return new Set();
  }
  const { rows } = await db.query<{ id: string }>(
    `SELECT e.change_id::text AS id FROM ${schemaSql}.erased_changes e
     WHERE e.erasure_id = ANY (SELECT ${schemaSql}._key_pseudonym_erasure(k) FROM unnest($1::text[]) k)`,
    [candidates],
  );
  return new Set(rows.map((row) => row.id));
}
