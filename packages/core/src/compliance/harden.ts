import type { Queryable } from '../db/queryable.js';
import { inTransaction } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import { ComplianceInputError } from './compliance-input-error.js';

export interface HardenOptions {
  /** The role the application logs in as: it may add history only through the capture triggers and the library. */
  appRole: string;
  /** The role that owns the Auditrum schema and runs migrations, retention and the CLI. */
  adminRole: string;
  /** Only return the statements; change nothing. */
  dryRun?: boolean;
}

export interface HardenResult {
  /** Every statement, in order; applied in one transaction unless `dryRun`. */
  statements: string[];
  applied: boolean;
}

// Tables that the application role may not even read: the keys of masked values and of the DDL guard's proof, and
// the guard's scratch table.
const UNREADABLE = new Set(['settings', '_guard_known']);

// Functions the application runs with the owner's rights: its partition maintainer keeps partitions ahead, and the
// partitions it creates are the owner's, never its own.
export const DEFINER_FUNCTIONS_FOR_APP: readonly string[] = [
  'ensure_partitions',
  'ensure_api_request_partitions',
  // An application's start-up migrate after pg_upgrade: it records only what it has checked (migration 32).
  '_adopt_continued_cluster',
];

/** What could let the application role take back what harden takes, each refused with what to do instead. */
interface AppRoleRisks {
  superuser: boolean;
  createRole: boolean;
  memberOfAdmin: boolean;
  writesAllData: boolean;
  readsAllData: boolean;
  setsReplicationRole: boolean;
}

const REFUSALS: readonly [keyof AppRoleRisks, (app: string, admin: string) => string][] = [
  ['superuser', () => 'is a superuser: no privilege can be taken from it; give the application a role of its own'],
  [
    'createRole',
    (app) => `has CREATEROLE: it could give itself the admin role's rights (ALTER ROLE ${app} NOCREATEROLE first)`,
  ],
  [
    'memberOfAdmin',
    (app, admin) =>
      `is a member of the admin role ${admin}: it would keep every right of the admin role (REVOKE ${admin} FROM ${app} first)`,
  ],
  [
    'writesAllData',
    (app) =>
      `is a member of pg_write_all_data: it may write every table, the logs included, whatever their grants (REVOKE pg_write_all_data FROM ${app} first)`,
  ],
  [
    'readsAllData',
    (app) =>
      `is a member of pg_read_all_data: it may read settings, the masking keys and the guard's key (with which it could drop capture triggers past the guard) (REVOKE pg_read_all_data FROM ${app} first)`,
  ],
  [
    'setsReplicationRole',
    (app) =>
      `may set session_replication_role, which silences every trigger, capture included (REVOKE SET ON PARAMETER session_replication_role FROM ${app} first)`,
  ],
];

/**
 * The statements that make the change log and the API-request log append-only for the application role: the
 * admin role owns the schema and everything in it; the application role and PUBLIC lose every privilege on its
 * tables, partitions, sequences and functions, then the application role gets back only what it needs at run
 * time (reading the logs and calling the readers, inserting API-log rows, keeping partitions ahead). Applied in one
 * transaction; running it again changes nothing.
 */
export async function harden(db: Queryable, schema: string, options: HardenOptions): Promise<HardenResult> {
  const { appRole, adminRole } = options;
  const dryRun = options.dryRun === true;
  // Run as a superuser: reads and statements alike with the safe search path (SAFE_SEARCH_PATH_LOCAL), so a
  // look-alike of a built-in that the application's role made in public cannot run with those rights.
  return inTransaction(
    db,
    async (client) => {
      const app = await findRole(client, appRole, '--app-role');
      const admin = await findRole(client, adminRole, '--admin-role');
      if (app === admin) {
        throw new ComplianceInputError('the application role and the admin role must be two different roles');
      }
      const risks = await appRoleRisks(client, app, admin);
      for (const [risk, message] of REFUSALS) {
        if (risks[risk]) {
          throw new ComplianceInputError(
            `the application role ${JSON.stringify(appRole)} ${message(quoteIdentifier(appRole), quoteIdentifier(adminRole))}`,
          );
        }
      }
      const exists = await client.query('SELECT FROM pg_namespace WHERE nspname = $1', [schema]);
      if (exists.rowCount === 0) {
        throw new ComplianceInputError(
          `schema ${JSON.stringify(schema)} does not exist (run "auditrum migrate" first)`,
        );
      }
      const statements = await hardenStatements(client, schema, appRole, adminRole);
      if (!dryRun) {
        for (const statement of statements.filter((line) => !line.startsWith('--'))) await client.query(statement);
      }
      return { statements, applied: !dryRun };
    },
    { rollback: dryRun, safeSearchPath: true },
  );
}

/** The role's oid; a name that is empty or names no role is a ComplianceInputError naming the flag. */
async function findRole(db: Queryable, name: string, flag: string): Promise<number> {
  if (typeof name !== 'string' || name.trim() === '') throw new ComplianceInputError(`${flag}: give a role name`);
  const { rows } = await db.query<{ oid: number }>('SELECT oid::int FROM pg_roles WHERE rolname = $1', [name]);
  const role = rows[0];
  if (!role) throw new ComplianceInputError(`${flag}: role ${JSON.stringify(name)} does not exist`);
  return role.oid;
}

async function appRoleRisks(db: Queryable, app: number, admin: number): Promise<AppRoleRisks> {
  const { rows } = await db.query<AppRoleRisks & { version: number }>(
    `SELECT r.rolsuper AS superuser, r.rolcreaterole AS "createRole",
       pg_has_role($1::oid, $2::oid, 'MEMBER') AS "memberOfAdmin",
       -- PostgreSQL 14 and later: INSERT, UPDATE and DELETE on every table to its members, past every ACL.
       coalesce((SELECT pg_has_role($1::oid, w.oid, 'MEMBER') FROM pg_roles w WHERE w.rolname = 'pg_write_all_data'),
         false) AS "writesAllData",
       -- And SELECT on every table: settings too.
       coalesce((SELECT pg_has_role($1::oid, w.oid, 'MEMBER') FROM pg_roles w WHERE w.rolname = 'pg_read_all_data'),
         false) AS "readsAllData",
       current_setting('server_version_num')::int AS version
     FROM pg_roles r WHERE r.oid = $1::oid`,
    [app, admin],
  );
  const { version, ...risks } = rows[0] as AppRoleRisks & { version: number };
  // GRANT SET ON PARAMETER (PostgreSQL 15 and later) lets a role that is not a superuser set it.
  if (version >= 150000) {
    const replica = await db.query<{ sets: boolean }>(
      `SELECT has_parameter_privilege($1::oid, 'session_replication_role', 'SET') AS sets`,
      [app],
    );
    risks.setsReplicationRole = replica.rows[0]?.sets === true;
  } else {
    risks.setsReplicationRole = false;
  }
  return risks;
}

/** The statements, with comments (lines starting with `--`) saying what each group is for. */
async function hardenStatements(db: Queryable, schema: string, appRole: string, adminRole: string): Promise<string[]> {
  const [s, app, admin] = [schema, appRole, adminRole].map(quoteIdentifier) as [string, string, string];
  // Objects that belong to an extension (pg_trgm, when value search installed it here) are the extension's.
  const notExtensionMember = (catalog: string, column: string) =>
    `NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = '${catalog}'::regclass AND d.objid = ${column} AND d.deptype = 'e')`;
  const relations = await db.query<{ name: string; kind: string; owned_by_admin: boolean; partition: boolean }>(
    `SELECT c.relname AS name, c.relkind::text AS kind, pg_get_userbyid(c.relowner) = $2 AS owned_by_admin,
       c.relispartition AS partition
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'c') AND ${notExtensionMember('pg_class', 'c.oid')}
       -- A sequence of an identity or serial column follows its table.
       AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                       AND d.deptype IN ('a', 'i') AND c.relkind = 'S')
     ORDER BY c.relispartition, c.relname`,
    [schema, adminRole],
  );
  const routines = await db.query<{
    signature: string;
    kind: string;
    name: string;
    owned_by_admin: boolean;
    readonly: boolean;
  }>(
    `SELECT format('%s(%s)', quote_ident(p.proname), pg_get_function_identity_arguments(p.oid)) AS signature,
       p.prokind::text AS kind, p.proname AS name, pg_get_userbyid(p.proowner) = $2 AS owned_by_admin,
       -- Runs with the caller's rights, writes nothing, is not a trigger: a reader.
       NOT p.prosecdef AND p.provolatile IN ('s', 'i')
         AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype) AS readonly
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = $1 AND ${notExtensionMember('pg_proc', 'p.oid')}
     ORDER BY p.proname, 1`,
    [schema, adminRole],
  );

  // A composite type (c) of the history readers' results is owned like the rest; only what holds rows is granted.
  const KEYWORD: Record<string, string> = {
    r: 'TABLE',
    p: 'TABLE',
    v: 'VIEW',
    m: 'MATERIALIZED VIEW',
    S: 'SEQUENCE',
    c: 'TYPE',
  };
  const READABLE = new Set(['r', 'p', 'v', 'm']);
  const ROUTINE: Record<string, string> = { f: 'FUNCTION', p: 'PROCEDURE', a: 'AGGREGATE', w: 'FUNCTION' };
  const statements: string[] = [
    '-- The admin role owns the schema and everything in it.',
    `ALTER SCHEMA ${s} OWNER TO ${admin}`,
  ];
  for (const rel of relations.rows.filter((r) => !r.owned_by_admin)) {
    statements.push(`ALTER ${KEYWORD[rel.kind]} ${s}.${quoteIdentifier(rel.name)} OWNER TO ${admin}`);
  }
  for (const fn of routines.rows.filter((r) => !r.owned_by_admin)) {
    statements.push(`ALTER ${ROUTINE[fn.kind]} ${s}.${fn.signature} OWNER TO ${admin}`);
  }
  statements.push(
    '-- Nobody but the admin role may create in the schema, or write, alter or drop what is in it.',
    `REVOKE ALL ON SCHEMA ${s} FROM PUBLIC, ${app}`,
    `REVOKE ALL ON ALL TABLES IN SCHEMA ${s} FROM PUBLIC, ${app}`,
    `REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${s} FROM PUBLIC, ${app}`,
  );
  for (const fn of routines.rows) {
    statements.push(
      `REVOKE ALL ON ${ROUTINE[fn.kind] === 'PROCEDURE' ? 'PROCEDURE' : 'FUNCTION'} ${s}.${fn.signature} FROM PUBLIC, ${app}`,
    );
  }
  statements.push(
    '-- What the application needs at run time.',
    `GRANT USAGE ON SCHEMA ${s} TO ${app}`,
    // Any role may check whether it is trusted (as before), tell restored rows from this cluster's, and read which ids
    // each hour of a month's changes lie between (a reader of the log finds a window of time by them).
    `GRANT SELECT ON ${s}.application_roles TO PUBLIC`,
    `GRANT SELECT ON ${s}.restore_boundaries TO PUBLIC`,
    `GRANT EXECUTE ON FUNCTION ${s}._database_identity(), ${s}._restore_pending() TO PUBLIC`,
    `GRANT SELECT ON ${s}.month_ids TO PUBLIC`,
  );
  for (const rel of relations.rows) {
    if (rel.partition || !READABLE.has(rel.kind) || UNREADABLE.has(rel.name)) continue;
    statements.push(`GRANT SELECT ON ${s}.${quoteIdentifier(rel.name)} TO ${app}`);
  }
  statements.push(
    `GRANT INSERT ON ${s}.api_requests TO ${app}`,
    `GRANT USAGE ON SEQUENCE ${s}.api_requests_id_seq TO ${app}`,
  );
  for (const fn of routines.rows) {
    if (fn.readonly || DEFINER_FUNCTIONS_FOR_APP.includes(fn.name)) {
      statements.push(`GRANT EXECUTE ON FUNCTION ${s}.${fn.signature} TO ${app}`);
    }
  }
  return statements;
}
