import type { Queryable } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';

/**
 * A database role whose sessions' context is trusted: the capture triggers believe the actor, request and reason
 * that its statements' comments carry. Any other role's comment is kept as `claimed` beside the real database user.
 */
export interface ApplicationRole {
  /** The role's current name, or the name it had when added if it was dropped since. */
  name: string;
  /** False when the role no longer exists (its entry is ignored). */
  exists: boolean;
  addedAt: Date;
  addedBy: string;
}

export interface ApplicationRoleResult {
  role: string;
  /** `added` / `removed`, or `unchanged` when the role was already (or was not) trusted. */
  action: 'added' | 'removed' | 'unchanged';
}

/** Whether the role of a connection gets its context believed. */
export interface ConnectionTrust {
  /** The connection's login role (`session_user`): what the capture triggers compare. */
  role: string;
  /** False before migration 4 is applied: there is nothing to check yet. */
  installed: boolean;
  trusted: boolean;
}

/**
 * Trusts `role`'s context and grants it what the application needs at run time (usage of the schema, writing the
 * API-request log); regenerates the capture functions. Only the schema's owner may.
 */
export async function addApplicationRole(db: Queryable, schema: string, role: string): Promise<ApplicationRoleResult> {
  const added = await callRoleFunction(db, schema, 'add_application_role', role);
  return { role, action: added ? 'added' : 'unchanged' };
}

/** Stops trusting `role`'s context (its grants stay); regenerates the capture functions. Only the schema's owner may. */
export async function removeApplicationRole(
  db: Queryable,
  schema: string,
  role: string,
): Promise<ApplicationRoleResult> {
  const removed = await callRoleFunction(db, schema, 'remove_application_role', role);
  return { role, action: removed ? 'removed' : 'unchanged' };
}

export async function listApplicationRoles(db: Queryable, schema: string): Promise<ApplicationRole[]> {
  const { rows } = await db.query<{ name: string; exists: boolean; added_at: Date; added_by: string }>(
    `SELECT coalesce(r.rolname, a.role_name)::text AS name, r.oid IS NOT NULL AS exists, a.added_at,
       a.added_by::text AS added_by
     FROM ${quoteIdentifier(schema)}.application_roles a LEFT JOIN pg_roles r ON r.oid = a.role_oid
     ORDER BY 1`,
  );
  return rows.map((row) => ({ name: row.name, exists: row.exists, addedAt: row.added_at, addedBy: row.added_by }));
}

/**
 * Whether this connection's login role is an application role. Reads catalogs first, so it needs no privilege
 * and reports `installed: false` before migration 4; a role without usage of the schema is not trusted
 * (adding it grants that usage).
 */
export async function connectionTrust(db: Queryable, schema: string): Promise<ConnectionTrust> {
  const { rows } = await db.query<{ role: string; installed: boolean; usable: boolean | null }>(
    `SELECT session_user::text AS role,
       EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = 'application_roles') AS installed,
       CASE WHEN n.oid IS NOT NULL THEN has_schema_privilege(n.oid, 'USAGE') END AS usable
     FROM (SELECT 1) one LEFT JOIN pg_namespace n ON n.nspname = $1`,
    [schema],
  );
  const { role, installed, usable } = rows[0] ?? { role: '', installed: false, usable: null };
  if (!installed || !usable) return { role, installed, trusted: false };
  const listed = await db.query(
    `SELECT 1 FROM ${quoteIdentifier(schema)}.application_roles a JOIN pg_roles r ON r.oid = a.role_oid
     WHERE r.rolname = session_user`,
  );
  return { role, installed, trusted: (listed.rowCount ?? 0) > 0 };
}

/** What to tell an operator whose connection's context is not trusted. */
export function untrustedRoleAdvice(role: string): string {
  return `run \`auditrum app-role add ${role}\` as the schema owner`;
}

async function callRoleFunction(db: Queryable, schema: string, fn: string, role: string): Promise<boolean> {
  if (typeof role !== 'string' || role.trim() === '') throw new TypeError('auditrum: a database role name is required');
  try {
    const { rows } = await db.query<{ done: boolean }>(`SELECT ${quoteIdentifier(schema)}.${fn}($1::regrole) AS done`, [
      role,
    ]);
    return rows[0]?.done === true;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    // undefined_object: regrole's "role … does not exist"; insufficient_privilege: not the schema's owner.
    if (code === '42704') throw new Error(`auditrum: database role ${JSON.stringify(role)} does not exist`);
    if (code === '42501') {
      throw new Error(
        `auditrum: only the owner of schema "${schema}" may change its application roles (${(error as Error).message})`,
      );
    }
    throw error;
  }
}
