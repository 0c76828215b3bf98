import { randomUUID } from 'node:crypto';
import type { Queryable } from '../db/queryable.js';

/** The two logs an export reads: the change log (`changes`) and the API-request log (`api_requests`). */
export const EXPORT_LOGS = ['changes', 'requests'] as const;
export type ExportLog = (typeof EXPORT_LOGS)[number];

/** Ids per log, as text (bigint). */
export type LogIds = Record<ExportLog, string>;

/**
 * Where the database stood at one moment, kept to bound later scans: every transaction whose id is `next` or more got
 * it after the logs' sequences read `ids`, so its rows all have larger ids (a transaction has its id before it draws
 * one: see schema 14).
 */
export interface ExportMark {
  next: string;
  ids: LogIds;
}

/** Which database and schema a cursor belongs to: refused anywhere else. */
export interface DatabaseIdentity {
  /** pg_control_system()'s system identifier (one per cluster), null where the server does not show it. */
  systemIdentifier: string | null;
  databaseOid: string;
  database: string;
  schema: string;
}

/**
 * An export's position, stored between runs (a JSON file for the CLI). Exports go in steps; step `step` takes the
 * rows whose transaction ids are in [from, to) (every such transaction had ended when the step began, and no other
 * can ever commit in that range) with ids in (floor, after], in a fixed order (changes then requests, each by id),
 * so that running a step again yields the same rows in the same order. `delivered` counts the step's records
 * delivered and `last` is the last of them: a resumed export runs the step again from the row after it.
 */
export interface ExportCursor {
  format: 'auditrum-export-cursor';
  version: 1;
  /** Random, per cursor: part of the webhook's idempotency keys. */
  id: string;
  database: DatabaseIdentity;
  logs: ExportLog[];
  /** Rows before this time (ISO, with zone) are never exported; null: from the start of the logs. */
  since: string | null;
  step: number;
  from: string;
  to: string;
  floor: LogIds;
  after: LogIds;
  delivered: number;
  last: { log: ExportLog; id: string } | null;
  marks: ExportMark[];
}

/** Bad export input: an option, a cursor file that is not a cursor, or a cursor of another database or schema. */
export class ExportInputError extends Error {
  override name = 'ExportInputError';
}

const ZERO_IDS: LogIds = { changes: '0', requests: '0' };

/** A new cursor at step 0 (empty): its first step takes every row from `since` on whose transaction has ended. */
export function newCursor(identity: DatabaseIdentity, logs: ExportLog[], since: string | null): ExportCursor {
  return {
    format: 'auditrum-export-cursor',
    version: 1,
    id: randomUUID(),
    database: identity,
    logs,
    since,
    step: 0,
    from: '0',
    to: '0',
    floor: ZERO_IDS,
    after: ZERO_IDS,
    delivered: 0,
    last: null,
    marks: [],
  };
}

/** The database and schema `db` is connected to, as a cursor records them. */
export async function databaseIdentity(db: Queryable, schema: string): Promise<DatabaseIdentity> {
  const { rows } = await db.query<{ oid: string; database: string }>(
    'SELECT d.oid::text AS oid, d.datname AS database FROM pg_database d WHERE d.datname = current_database()',
  );
  // pg_control_system() is open to every role by default, but a managed service may revoke it.
  const system = await db
    .query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()')
    .then((result) => result.rows[0]?.id ?? null)
    .catch(() => null);
  const row = rows[0] as { oid: string; database: string };
  return { systemIdentifier: system, databaseOid: row.oid, database: row.database, schema };
}

/** Refuses a cursor of another database (another cluster, or another database of this one) or another schema. */
export function checkCursorDatabase(cursor: ExportCursor, here: DatabaseIdentity): void {
  const there = cursor.database;
  const sameCluster =
    there.systemIdentifier === null ||
    here.systemIdentifier === null ||
    there.systemIdentifier === here.systemIdentifier;
  if (!sameCluster || there.databaseOid !== here.databaseOid) {
    throw new ExportInputError(
      `the cursor belongs to another database (${describe(there)}), not this one (${describe(here)}); start a new cursor for this database`,
    );
  }
  if (there.schema !== here.schema) {
    throw new ExportInputError(
      `the cursor belongs to schema ${JSON.stringify(there.schema)}, not ${JSON.stringify(here.schema)}`,
    );
  }
}

function describe(identity: DatabaseIdentity): string {
  return `database ${JSON.stringify(identity.database)}, oid ${identity.databaseOid}, system ${identity.systemIdentifier ?? 'unknown'}`;
}

const BIGINT = /^(0|[1-9]\d{0,18})$/;

/** Parses a stored cursor, refusing anything that is not one of ours (`source` names it in the error). */
export function parseCursor(text: string, source: string): ExportCursor {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ExportInputError(`${source} is not an Auditrum export cursor (not JSON)`);
  }
  const problem = cursorProblem(value);
  if (problem !== undefined) throw new ExportInputError(`${source} is not an Auditrum export cursor (${problem})`);
  return value as ExportCursor;
}

function cursorProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const c = value as Record<string, unknown>;
  if (c.format !== 'auditrum-export-cursor') return 'no "format": "auditrum-export-cursor"';
  if (c.version !== 1) return `version ${JSON.stringify(c.version)}, this Auditrum reads version 1`;
  const db = c.database as Record<string, unknown> | undefined;
  const checks: [boolean, string][] = [
    [typeof c.id === 'string', 'id'],
    [
      typeof db === 'object' &&
        db !== null &&
        (db.systemIdentifier === null || isBigint(db.systemIdentifier)) &&
        isBigint(db.databaseOid) &&
        typeof db.database === 'string' &&
        typeof db.schema === 'string',
      'database',
    ],
    [
      Array.isArray(c.logs) &&
        c.logs.length > 0 &&
        c.logs.every((log) => (EXPORT_LOGS as readonly unknown[]).includes(log)) &&
        new Set(c.logs).size === c.logs.length,
      'logs',
    ],
    [c.since === null || (typeof c.since === 'string' && !Number.isNaN(Date.parse(c.since))), 'since'],
    [Number.isSafeInteger(c.step) && (c.step as number) >= 0, 'step'],
    [isBigint(c.from) && isBigint(c.to) && BigInt(c.from as string) <= BigInt(c.to as string), 'from/to'],
    [isLogIds(c.floor) && isLogIds(c.after), 'floor/after'],
    [Number.isSafeInteger(c.delivered) && (c.delivered as number) >= 0, 'delivered'],
    [
      c.last === null ||
        (typeof c.last === 'object' &&
          (EXPORT_LOGS as readonly unknown[]).includes((c.last as { log?: unknown }).log) &&
          (c.logs as unknown[]).includes((c.last as { log?: unknown }).log) &&
          isBigint((c.last as { id?: unknown }).id)),
      'last',
    ],
    [
      Array.isArray(c.marks) &&
        c.marks.every(
          (m: unknown) =>
            typeof m === 'object' && m !== null && isBigint((m as ExportMark).next) && isLogIds((m as ExportMark).ids),
        ),
      'marks',
    ],
  ];
  const bad = checks.find(([ok]) => !ok);
  return bad === undefined ? undefined : `bad "${bad[1]}"`;
}

function isBigint(value: unknown): value is string {
  return typeof value === 'string' && BIGINT.test(value);
}

function isLogIds(value: unknown): value is LogIds {
  return typeof value === 'object' && value !== null && EXPORT_LOGS.every((log) => isBigint((value as LogIds)[log]));
}
