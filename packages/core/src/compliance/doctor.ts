import type { Queryable } from '../db/queryable.js';
import { inTransaction } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import { restorePending } from '../schema/restore-boundary.js';
import { restoredTables } from '../schema/restored-registry.js';
import { chainCheck, DEFAULT_MAX_SEAL_AGE_HOURS } from './chain-check.js';
import { ComplianceInputError } from './compliance-input-error.js';
import { DEFINER_FUNCTIONS_FOR_APP } from './harden.js';

/** What a check found: `problem` makes the doctor fail; `not_enabled` is a feature that is not set up. */
export type DoctorStatus = 'ok' | 'problem' | 'not_enabled';

export interface DoctorCheck {
  /**
   * `capture` (a tracked table's triggers), `guard` (the event triggers that refuse stopping capture), `partitions`
   * (a log's months ahead), `append_only` (who may change the logs), `chain` (sealing), `registry` (a tracked
   * table restored from a dump whose registry row names another relation, or the schema, restored into another
   * cluster without its restore boundary).
   */
  check: 'capture' | 'registry' | 'guard' | 'partitions' | 'append_only' | 'chain';
  /** What was checked: a table, a log, or the chain. */
  subject: string;
  status: DoctorStatus;
  /** What is wrong, or what was found well. */
  detail: string;
}

export interface DoctorReport {
  /** False when any check is a problem. */
  ok: boolean;
  checks: DoctorCheck[];
}

export interface DoctorOptions {
  /** Months after the current one (UTC) whose partitions must exist; default 1, at most 120. */
  monthsAhead?: number;
  /** Hours after which the chain's last seal is too old (a problem); default 24, at most 8,760. */
  maxSealAgeHours?: number;
}

const LOGS = ['changes', 'api_requests'] as const;

/**
 * Whether logging can have stopped unnoticed: every tracked table has its capture function and its four triggers,
 * present, enabled and unreplaced (and no rule or untracked parent that bypasses them); the guard's event triggers
 * exist and are enabled; each log has its partitions for this month and the months ahead (else rows pile up in the
 * default partition); no role but the schema's owner may change the logs (`not_enabled` when an application role
 * owns them: the one-role set-up, before `harden`); the chain was sealed within `maxSealAgeHours` (not enabled while
 * never sealed), with the rows waiting for a seal; no tracked table was restored from a dump without its registry row
 * rebound, and no log restored into another cluster without its restore boundary (`auditrum migrate` does both).
 * Reads only.
 */
export async function doctor(db: Queryable, schema: string, options: DoctorOptions = {}): Promise<DoctorReport> {
  const monthsAhead = options.monthsAhead ?? 1;
  const maxSealAgeHours = options.maxSealAgeHours ?? DEFAULT_MAX_SEAL_AGE_HOURS;
  if (!Number.isInteger(monthsAhead) || monthsAhead < 0 || monthsAhead > 120) {
    throw new ComplianceInputError(`months ahead must be a whole number from 0 to 120, not ${String(monthsAhead)}`);
  }
  if (!Number.isInteger(maxSealAgeHours) || maxSealAgeHours < 1 || maxSealAgeHours > 8760) {
    throw new ComplianceInputError(
      `the seal's maximum age must be a whole number of hours from 1 to 8760, not ${String(maxSealAgeHours)}`,
    );
  }
  // Run as the schema's owner or a superuser: with the safe search path (SAFE_SEARCH_PATH_LOCAL), reading only.
  const checks = await inTransaction(
    db,
    async (client) => [
      ...(await captureChecks(client, schema)),
      ...(await recreatedTableChecks(client, schema)),
      ...(await registryChecks(client, schema)),
      await guardCheck(client, schema),
      ...(await partitionChecks(client, schema, monthsAhead)),
      await appendOnlyCheck(client, schema),
      await chainCheck(client, schema, maxSealAgeHours),
    ],
    { rollback: true, safeSearchPath: true },
  );
  return { ok: checks.every((c) => c.status !== 'problem'), checks };
}

/**
 * A tracked table dropped (the guard lets it go, with its `table_dropped` row) whose name a table has again, not
 * tracked: a rebuild (CREATE TABLE … AS, DROP, RENAME) stops capture with no trigger missing. Not when the name was
 * tracked again and untracked since: the name's latest registry row is the dropped table's.
 */
async function recreatedTableChecks(db: Queryable, schema: string): Promise<DoctorCheck[]> {
  const s = quoteIdentifier(schema);
  const { rows } = await db.query<{ name: string; dropped_at: Date }>(
    `SELECT format('%I.%I', t.schema_name, t.table_name) AS name, d.changed_at AS dropped_at
     FROM ${s}.tracked_tables t
       JOIN pg_namespace n ON n.nspname = t.schema_name
       JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.table_name AND c.relkind IN ('r', 'p')
       CROSS JOIN LATERAL (SELECT d.changed_at FROM ${s}.changes d WHERE d.table_id = t.id AND d.row_key IS NULL
         AND d.operation = 'DDL' AND d.new_values ->> 'event' = 'table_dropped' ORDER BY d.id DESC LIMIT 1) d
     WHERE t.untracked_at IS NOT NULL
       AND t.id = (SELECT max(l.id) FROM ${s}.tracked_tables l
                   WHERE l.schema_name = t.schema_name AND l.table_name = t.table_name)
     ORDER BY 1`,
  );
  return rows.map(({ name, dropped_at: droppedAt }) => ({
    check: 'capture',
    subject: name,
    status: 'problem',
    detail: `dropped at ${droppedAt.toISOString()} while tracked; the table of that name now is not tracked, its changes are not recorded (auditrum track ${name})`,
  }));
}

async function captureChecks(db: Queryable, schema: string): Promise<DoctorCheck[]> {
  const s = quoteIdentifier(schema);
  const tables = await db.query<{ name: string; problems: string[] }>(
    `SELECT format('%I.%I', t.schema_name, t.table_name) AS name,
       ARRAY(SELECT p.problem FROM ${s}._capture_problems(ARRAY[t.relid]) p) AS problems
     FROM ${s}.tracked_tables t
     WHERE t.untracked_at IS NULL AND EXISTS (SELECT FROM pg_class c WHERE c.oid = t.relid)
     ORDER BY 1`,
  );
  if (tables.rows.length === 0) {
    return [{ check: 'capture', subject: schema, status: 'not_enabled', detail: 'no table is tracked' }];
  }
  return tables.rows.map(({ name, problems }) =>
    problems.length === 0
      ? { check: 'capture', subject: name, status: 'ok', detail: 'capture triggers present and enabled' }
      : { check: 'capture', subject: name, status: 'problem', detail: problems.join('; ') },
  );
}

async function registryChecks(db: Queryable, schema: string): Promise<DoctorCheck[]> {
  const restored = await restoredTables(db, schema);
  const tables: DoctorCheck[] = restored.map(({ table }) => ({
    check: 'registry',
    subject: table,
    status: 'problem',
    detail:
      'restored from a dump: its registry row names another relation (its history cannot be read, ALTER TABLE is ' +
      'not followed); run "auditrum migrate" as the schema owner',
  }));
  // The log restored into another cluster without its restore boundary: export, seal and verify refuse to run.
  const pending = await restorePending(db, quoteIdentifier(schema));
  if (pending === null) return tables;
  return [...tables, { check: 'registry', subject: schema, status: 'problem', detail: pending }];
}

async function partitionChecks(db: Queryable, schema: string, monthsAhead: number): Promise<DoctorCheck[]> {
  // Months in UTC, as the partitions' bounds are.
  const months = await db.query<{ log: string; missing: string[] }>(
    `SELECT l.log, ARRAY(
       SELECT l.log || '_p' || to_char(m, 'YYYY_MM')
       FROM generate_series(date_trunc('month', now() AT TIME ZONE 'UTC'),
                            date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => $2), '1 month') m
       WHERE NOT EXISTS (
         SELECT FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = format('%I.%I', $1::text, l.log)::regclass AND c.relname = l.log || '_p' || to_char(m, 'YYYY_MM'))
       ORDER BY m) AS missing
     FROM unnest($3::text[]) AS l(log)`,
    [schema, monthsAhead, LOGS],
  );
  return months.rows.map(({ log, missing }) =>
    missing.length === 0
      ? {
          check: 'partitions',
          subject: log,
          status: 'ok',
          detail: `partitions exist for this month and ${monthsAhead} ahead`,
        }
      : {
          check: 'partitions',
          subject: log,
          status: 'problem',
          detail: `missing ${missing.join(', ')}: rows go to the default partition (run "auditrum partitions")`,
        },
  );
}

// Privileges that let a role other than the owner change history: writing a log table or partition (but inserting
// API-log rows, which the application does) or every table, a trigger on one, creating in the schema, or running a
// SECURITY DEFINER function of the schema (but those harden grants the application, $2: the partition functions and
// the adoption of a cluster that counts on from the log's; and triggers, which cannot be called). A grant made after
// harden, or a function that a later migration created with PostgreSQL's default EXECUTE for PUBLIC, shows here.
const loosePrivilegesSql = (s: string): string => `
  WITH grants AS (
    SELECT a.grantee, a.privilege_type, format('%I.%I', n.nspname, c.relname) AS object
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace CROSS JOIN LATERAL aclexplode(c.relacl) a
    WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.grantee <> c.relowner
      AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER')
      AND NOT (c.relname = 'api_requests' AND a.privilege_type = 'INSERT')
    UNION ALL
    SELECT a.grantee, a.privilege_type, format('schema %I', n.nspname)
    FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a
    WHERE n.nspname = $1 AND a.grantee <> n.nspowner AND a.privilege_type = 'CREATE'
    UNION ALL
    SELECT a.grantee, a.privilege_type, p.oid::regprocedure::text
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    CROSS JOIN LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
    WHERE n.nspname = $1 AND p.prosecdef AND a.grantee <> p.proowner AND a.privilege_type = 'EXECUTE'
      AND p.proname <> ALL ($2::text[])
      AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
    UNION ALL
    -- PostgreSQL 14 and later: its members may INSERT, UPDATE and DELETE in every table, past every ACL.
    SELECT r.oid, 'write', 'every table (a member of pg_write_all_data)'
    FROM pg_roles w JOIN pg_roles r ON pg_has_role(r.oid, w.oid, 'MEMBER')
    WHERE w.rolname = 'pg_write_all_data' AND r.oid <> w.oid AND NOT r.rolsuper
      AND r.oid <> (SELECT nspowner FROM pg_namespace WHERE nspname = $1)
    UNION ALL
    -- And SELECT on every table: an application role reads the keys of settings, and with the guard's it drops
    -- the capture triggers of its tables past the guard.
    SELECT r.oid, 'read', format('%I.settings (a member of pg_read_all_data)', $1::text)
    FROM pg_roles w JOIN pg_roles r ON pg_has_role(r.oid, w.oid, 'MEMBER')
    WHERE w.rolname = 'pg_read_all_data' AND NOT r.rolsuper
      AND r.oid IN (SELECT role_oid FROM ${s}.application_roles)
  )
  SELECT format('%s may %s %s', CASE WHEN grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(grantee)) END,
    privilege_type, object) AS loose
  FROM grants ORDER BY 1`;

async function appendOnlyCheck(db: Queryable, schema: string): Promise<DoctorCheck> {
  const s = quoteIdentifier(schema);
  // An application role that owns the schema is the one-role set-up (harden not run); one that is only a member of
  // the owner has all its rights all the same, but that is a set-up harden refuses (a grant made after it).
  const owners = await db.query<{ owner: string; app_owners: string[]; app_members: string[] }>(
    `SELECT pg_get_userbyid(n.nspowner)::text AS owner,
       ARRAY(SELECT r.rolname::text FROM ${s}.application_roles a JOIN pg_roles r ON r.oid = a.role_oid
             WHERE NOT r.rolsuper AND r.oid = n.nspowner ORDER BY 1) AS app_owners,
       ARRAY(SELECT r.rolname::text FROM ${s}.application_roles a JOIN pg_roles r ON r.oid = a.role_oid
             WHERE NOT r.rolsuper AND r.oid <> n.nspowner AND pg_has_role(r.oid, n.nspowner, 'MEMBER')
             ORDER BY 1) AS app_members
     FROM pg_namespace n WHERE n.nspname = $1`,
    [schema],
  );
  const {
    owner,
    app_owners: appOwners,
    app_members: appMembers,
  } = owners.rows[0] ?? { owner: '', app_owners: [], app_members: [] };
  if (appMembers.length > 0) {
    const [admin, apps] = [quoteIdentifier(owner), appMembers.map(quoteIdentifier).join(', ')];
    return {
      check: 'append_only',
      subject: schema,
      status: 'problem',
      detail: `the application role ${appMembers.join(', ')} is a member of ${owner}, the owner of the logs, and can change history (REVOKE ${admin} FROM ${apps})`,
    };
  }
  if (appOwners.length > 0) {
    return {
      check: 'append_only',
      subject: schema,
      status: 'not_enabled',
      detail: `the application role ${appOwners.join(', ')} owns the logs and can change history (run "auditrum harden")`,
    };
  }
  const { rows } = await db.query<{ loose: string }>(loosePrivilegesSql(s), [schema, DEFINER_FUNCTIONS_FOR_APP]);
  return rows.length === 0
    ? { check: 'append_only', subject: schema, status: 'ok', detail: `only ${owner} may change the logs` }
    : { check: 'append_only', subject: schema, status: 'problem', detail: rows.map((r) => r.loose).join('; ') };
}

// The guard's event triggers, by the functions they run (their names carry a prefix of the schema's name).
const GUARD_FUNCTIONS = ['_guard_capture_start', '_guard_capture_ddl', '_guard_capture_drop'];

async function guardCheck(db: Queryable, schema: string): Promise<DoctorCheck> {
  // 'O' and 'A' fire; 'D' never, 'R' only where session_replication_role is replica: nowhere else.
  const { rows } = await db.query<{ name: string; enabled: 'O' | 'A' | 'D' | 'R' }>(
    `SELECT e.evtname::text AS name, e.evtenabled::text AS enabled
     FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = $1 AND p.proname = ANY ($2::text[])
     ORDER BY 1`,
    [schema, GUARD_FUNCTIONS],
  );
  if (rows.length === 0) {
    return {
      check: 'guard',
      subject: schema,
      status: 'not_enabled',
      detail:
        "no event triggers (migrated without a superuser): a table's owner can disable or drop its capture triggers, which this check detects but nothing refuses",
    };
  }
  const disabled = rows.filter((r) => r.enabled === 'D' || r.enabled === 'R');
  if (disabled.length > 0 || rows.length < GUARD_FUNCTIONS.length) {
    const missing = GUARD_FUNCTIONS.length - rows.length;
    return {
      check: 'guard',
      subject: schema,
      status: 'problem',
      detail: [
        ...disabled.map(({ name, enabled }) =>
          enabled === 'D'
            ? `event trigger ${name} is disabled`
            : `event trigger ${name} fires only for replication (ENABLE REPLICA)`,
        ),
        ...(missing > 0 ? [`${missing} of the guard's event triggers are missing`] : []),
      ].join('; '),
    };
  }
  return {
    check: 'guard',
    subject: schema,
    status: 'ok',
    detail: 'dropping, disabling or replacing a capture trigger is refused',
  };
}
