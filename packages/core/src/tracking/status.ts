import type { Queryable } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import type { RestoredTable } from '../schema/restored-registry.js';
import { restoredTables } from '../schema/restored-registry.js';
import type { ApplicationRole, ConnectionTrust } from './application-roles.js';
import { connectionTrust, listApplicationRoles } from './application-roles.js';
import type { TableRules } from './table-rules.js';
import { rulesFromSql } from './table-rules.js';
import type { TrackedSchemaStatus } from './tracked-schemas.js';
import { trackedSchemas } from './tracked-schemas.js';

export interface TrackedTableStatus {
  id: number;
  table: string;
  rules: TableRules & { key: string[] };
  trackedAt: Date;
  updatedAt: Date;
  /** Enabled capture triggers (INSERT, UPDATE, DELETE, TRUNCATE): 4 when all is well. */
  enabledTriggers: number;
  /**
   * What keeps changes from being recorded, e.g. `trigger auditrum_capture_update is disabled`, `rule r replaces
   * DELETE (DO INSTEAD)`; empty when all is well. `sync` repairs triggers and functions, not rules.
   */
  problems: string[];
  /** The capture function differs from what the rules and columns call for (run sync or track again). */
  drifted: boolean;
}

export interface PartitionStatus {
  name: string;
  /** The range, or `DEFAULT`. */
  bounds: string;
  estimatedRows: number;
}

export interface AuditStatus {
  schema: string;
  schemaVersion: number;
  /** Whether ALTER TABLE on tracked tables is followed automatically (needs a superuser at migrate time). */
  followsDdl: boolean;
  /**
   * Whether dropping or disabling capture triggers is refused (event triggers, which need a superuser at migrate
   * time); otherwise it is only detected (`problems`, `sync --check`) and repaired by `sync`.
   */
  tamperingPrevented: boolean;
  /** Database schemas tracked as a whole (config `schemas`). */
  schemas: TrackedSchemaStatus[];
  /** Whether tables created in a schema with `trackNew` are tracked as they are created (an event trigger). */
  tracksNewTables: boolean;
  tables: TrackedTableStatus[];
  /**
   * Tracked tables restored from a dump whose registry row still names another relation: not in `tables`, their
   * history unreadable and ALTER TABLE unfollowed until `auditrum migrate` rebinds them (run as the schema owner).
   */
  restored: RestoredTable[];
  partitions: PartitionStatus[];
  /** Changes recorded with no application context (psql, cron, other services), estimated over the last 30 days. */
  changesWithoutContext30d: number;
  /** The roles whose context comments are trusted; any other role's are kept as claimed. */
  applicationRoles: ApplicationRole[];
  /** The role of the connection that asked, and whether its context is trusted. */
  connection: ConnectionTrust;
}

export async function status(db: Queryable, schema: string): Promise<AuditStatus> {
  const s = quoteIdentifier(schema);
  const version = await db.query<{ version: number }>(
    `SELECT coalesce(max(id), 0) AS version FROM ${s}.schema_migrations`,
  );
  const tables = await db.query<{
    id: number;
    name: string;
    rules: Record<string, unknown>;
    tracked_at: Date;
    updated_at: Date;
    enabled: number;
    drifted: boolean;
    problems: string[];
  }>(
    `SELECT t.id, format('%I.%I', t.schema_name, t.table_name) AS name, t.rules, t.tracked_at, t.updated_at,
       (SELECT count(*)::int FROM pg_trigger g
        WHERE g.tgrelid = t.relid AND g.tgfoid = to_regprocedure(format('%I.%I()', $1::text, 'capture_' || t.id))
          AND g.tgenabled IN ('O', 'A')) AS enabled,
       encode(sha256(convert_to(${s}._capture_function_sql(t), 'UTF8')), 'hex') <> t.function_checksum AS drifted,
       ARRAY(SELECT p.problem FROM ${s}._capture_problems(ARRAY[t.relid]) p) AS problems
     FROM ${s}.tracked_tables t
     WHERE t.untracked_at IS NULL AND EXISTS (SELECT FROM pg_class c WHERE c.oid = t.relid)
     ORDER BY t.schema_name, t.table_name`,
    [schema],
  );
  const partitions = await db.query<{ name: string; bounds: string; rows: number }>(
    `SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bounds, greatest(c.reltuples, 0)::bigint AS rows
     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = to_regclass(format('%I.changes', $1::text)) ORDER BY c.relname`,
    [schema],
  );
  const direct = await db.query<{ count: string }>(
    `SELECT count(*) AS count FROM ${s}.changes
     WHERE changed_at > now() - interval '30 days' AND context->>'source' = 'db'`,
  );
  // Event triggers are named after the schema's first 40 characters (identifiers hold 63).
  const prefix = schema.slice(0, 40);
  const followsDdl = await db.query('SELECT 1 FROM pg_event_trigger WHERE evtname = $1 AND evtenabled <> $2', [
    `${prefix}_follow_ddl`,
    'D',
  ]);
  const eventTriggers = await db.query<{ name: string }>(
    `SELECT evtname AS name FROM pg_event_trigger WHERE evtenabled <> 'D' AND evtname = ANY ($1)`,
    [['_capture_guard_start', '_capture_guard', '_capture_guard_drop', '_track_new_tables'].map((n) => prefix + n)],
  );
  const enabledEventTriggers = new Set(eventTriggers.rows.map((row) => row.name.slice(prefix.length)));
  return {
    schema,
    schemaVersion: version.rows[0]?.version ?? 0,
    followsDdl: (followsDdl.rowCount ?? 0) > 0,
    tamperingPrevented: ['_capture_guard_start', '_capture_guard', '_capture_guard_drop'].every((name) =>
      enabledEventTriggers.has(name),
    ),
    schemas: await trackedSchemas(db, schema),
    tracksNewTables: enabledEventTriggers.has('_track_new_tables'),
    tables: tables.rows.map((row) => ({
      id: row.id,
      table: row.name,
      rules: rulesFromSql(row.rules),
      trackedAt: row.tracked_at,
      updatedAt: row.updated_at,
      enabledTriggers: row.enabled,
      drifted: row.drifted,
      problems: row.problems,
    })),
    restored: await restoredTables(db, schema),
    partitions: partitions.rows.map((row) => ({
      name: row.name,
      bounds: row.bounds.replace(/^FOR VALUES /, ''),
      estimatedRows: Number(row.rows),
    })),
    changesWithoutContext30d: Number(direct.rows[0]?.count ?? 0),
    applicationRoles: await listApplicationRoles(db, schema),
    connection: await connectionTrust(db, schema),
  };
}
