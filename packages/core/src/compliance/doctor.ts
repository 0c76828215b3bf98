import type { Queryable } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import { ComplianceInputError } from './compliance-input-error.js';

/** What a check found: `problem` makes the doctor fail; `not_enabled` is a feature that is not set up. */
export type DoctorStatus = 'ok' | 'problem' | 'not_enabled';

export interface DoctorCheck {
  /** `capture` (a tracked table's triggers), `partitions` (a log's months ahead), `chain` (sealing). */
  check: 'capture' | 'partitions' | 'chain';
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
}

const LOGS = ['changes', 'api_requests'] as const;

/**
 * Whether logging can have stopped unnoticed: every tracked table has its capture function and its four triggers,
 * present, enabled and unreplaced (and no rule or untracked parent that bypasses them); each log has its partitions
 * for this month and the months ahead (else rows pile up in the default partition); the chain is reported as not
 * enabled, because it does not exist yet. Reads only.
 */
export async function doctor(db: Queryable, schema: string, options: DoctorOptions = {}): Promise<DoctorReport> {
  const monthsAhead = options.monthsAhead ?? 1;
  if (!Number.isInteger(monthsAhead) || monthsAhead < 0 || monthsAhead > 120) {
    throw new ComplianceInputError(`months ahead must be a whole number from 0 to 120, not ${String(monthsAhead)}`);
  }
  const s = quoteIdentifier(schema);
  const checks: DoctorCheck[] = [];

  const tables = await db.query<{ name: string; problems: string[] }>(
    `SELECT format('%I.%I', t.schema_name, t.table_name) AS name,
       ARRAY(SELECT p.problem FROM ${s}._capture_problems(ARRAY[t.relid]) p) AS problems
     FROM ${s}.tracked_tables t
     WHERE t.untracked_at IS NULL AND EXISTS (SELECT FROM pg_class c WHERE c.oid = t.relid)
     ORDER BY 1`,
  );
  for (const table of tables.rows) {
    checks.push(
      table.problems.length === 0
        ? { check: 'capture', subject: table.name, status: 'ok', detail: 'capture triggers present and enabled' }
        : { check: 'capture', subject: table.name, status: 'problem', detail: table.problems.join('; ') },
    );
  }

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
  for (const { log, missing } of months.rows) {
    checks.push(
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

  checks.push({
    check: 'chain',
    subject: 'chain',
    status: 'not_enabled',
    detail: 'no tamper-evident chain in this version: nothing is sealed, so nothing can be checked',
  });
  return { ok: checks.every((c) => c.status !== 'problem'), checks };
}
