import type pg from 'pg';

/** A change row as a test asserts it. */
export interface ChangeRow {
  id: string;
  table_name: string;
  operation: string;
  row_key: string | null;
  old_values: Record<string, unknown> | null;
  new_values: Record<string, unknown> | null;
  actor_id: string | null;
  request_id: string | null;
  context: Record<string, unknown>;
}

/** The change rows recorded after change `after` (all when 0), oldest first. */
export async function changesAfter(db: pg.Pool, after: string | number = 0): Promise<ChangeRow[]> {
  const { rows } = await db.query<ChangeRow>(
    `SELECT id::text AS id, table_name, operation, row_key, old_values, new_values, actor_id, request_id, context
     FROM auditrum.change_log WHERE id > $1 ORDER BY id`,
    [after],
  );
  return rows;
}

/** The id of the latest change recorded ('0' when none). */
export async function lastChangeId(db: pg.Pool): Promise<string> {
  const { rows } = await db.query<{ id: string }>('SELECT coalesce(max(id), 0)::text AS id FROM auditrum.changes');
  return rows[0]?.id ?? '0';
}

/** The rows of a table as their text (each column by its type's output function, so types compare exactly). */
export async function rowsAsText(db: pg.Pool, table: string, where = 'true', orderBy = 'id'): Promise<string[]> {
  const { rows } = await db.query<{ row: string }>(
    `SELECT t::text AS row FROM ${table} t WHERE ${where} ORDER BY ${orderBy}`,
  );
  return rows.map((r) => r.row);
}

/** Grants the role what a restore reads: the change log and the table registry with its column history. */
export async function grantRestoreReader(superuser: pg.Pool, role: string): Promise<void> {
  await superuser.query(
    `GRANT SELECT ON auditrum.tracked_tables, auditrum.changes, auditrum.table_versions, auditrum.column_names, auditrum.change_log, auditrum.erased_changes TO "${role}"`,
  );
}
