import { setTimeout } from 'node:timers/promises';
import type pg from 'pg';
import type { Queryable } from '../db/queryable.js';
import { inTransaction, onOneConnection } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import { ComplianceInputError } from './compliance-input-error.js';

/** The two logs that purge keeps: the change log and the API-request log. */
export type PurgedLog = 'changes' | 'api_requests';

export const PURGED_LOGS: readonly PurgedLog[] = ['changes', 'api_requests'];

export interface PurgeOptions {
  /** The retention period, in PostgreSQL's interval syntax with a unit: '13 months', '1 year', '90 days'. */
  olderThan: string;
  /** Which logs; default both. */
  logs?: readonly PurgedLog[];
  /** Only count what would go; change nothing. */
  dryRun?: boolean;
  /** Rows deleted per statement (each its own transaction) from a partition the cut-off falls in; default 10,000. */
  batchSize?: number;
  /**
   * How long one try to take the log's lock for detaching a partition may wait, in ms (default 1,000; 1 to 60,000).
   * While it waits, every write to the log waits behind it: a long transaction that wrote to the log makes the try
   * give up instead, and purge tries again, up to 10 times, then fails with nothing of that partition removed.
   */
  lockTimeoutMs?: number;
}

/** One partition that holds rows older than the cut-off. */
export interface PurgedPartition {
  name: string;
  /** `drop`: entirely older, detached then dropped; `delete`: only its older rows, deleted in batches. */
  action: 'drop' | 'delete';
  rows: number;
}

export interface PurgedLogResult {
  log: PurgedLog;
  partitions: PurgedPartition[];
  rows: number;
  /** The highest id purged (null when none): where an integrity check of what is left starts. */
  maxPurgedId: string | null;
}

export interface PurgeResult {
  olderThan: string;
  /** Rows with a time before this instant go (now minus the period, computed in UTC). */
  cutoff: Date;
  logs: PurgedLogResult[];
  applied: boolean;
}

const TIME_COLUMN: Record<PurgedLog, string> = { changes: 'changed_at', api_requests: 'requested_at' };
const DEFAULT_BATCH_SIZE = 10_000;
const DEFAULT_LOCK_TIMEOUT_MS = 1000;
const LOCK_TRIES = 10;

/**
 * Removes rows older than a retention period from the change log and the API-request log: partitions entirely
 * older than the cut-off are detached, then dropped (seconds whatever their size); in the partition the cut-off
 * falls in and in the default partition, the older rows are deleted in batches, each its own transaction, so that
 * no lock is held long. Each log's purge is recorded in `purges` (what went and the highest id purged), step by step
 * in each step's transaction. The dry run
 * counts exactly what would go and changes nothing. Only one purge of a schema runs at a time.
 */
export async function purge(db: Queryable, schema: string, options: PurgeOptions): Promise<PurgeResult> {
  const {
    olderThan,
    dryRun = false,
    batchSize = DEFAULT_BATCH_SIZE,
    lockTimeoutMs = DEFAULT_LOCK_TIMEOUT_MS,
  } = options;
  // Checked as it comes from JavaScript callers too, whatever its type says.
  const logs: unknown = options.logs ?? PURGED_LOGS;
  if (typeof olderThan !== 'string') throw new ComplianceInputError('give the retention period, e.g. "13 months"');
  if (!isLogList(logs)) {
    throw new ComplianceInputError(`logs must be a non-empty list of ${PURGED_LOGS.join(' and ')}`);
  }
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1_000_000) {
    throw new ComplianceInputError(`the batch size must be a whole number from 1 to 1000000, not ${String(batchSize)}`);
  }
  if (!Number.isInteger(lockTimeoutMs) || lockTimeoutMs < 1 || lockTimeoutMs > 60_000) {
    throw new ComplianceInputError(
      `the lock timeout must be a whole number of milliseconds from 1 to 60000, not ${String(lockTimeoutMs)}`,
    );
  }
  const s = quoteIdentifier(schema);
  const purged: readonly PurgedLog[] = logs;
  return onOneConnection(db, (client) => withSafeSearchPath(client, () => purgeOn(client, purged)));

  async function purgeOn(client: pg.ClientBase, logs: readonly PurgedLog[]): Promise<PurgeResult> {
    const cutoff = await retentionCutoff(client, s, olderThan);
    // A session lock: the purge spans many transactions.
    const lock = `auditrum.purge:${schema}`;
    const { rows: locked } = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked',
      [lock],
    );
    if (!locked[0]?.locked) throw new Error('auditrum: another purge of this schema is running');
    try {
      const plan = await client.query<{
        log: PurgedLog;
        partition_name: string;
        action: 'drop' | 'delete';
        rows: string;
        max_id: string | null;
      }>(`SELECT log, partition_name, action, rows::text, max_id::text FROM ${s}.purge_plan($1, $2::text[])`, [
        cutoff,
        logs,
      ]);
      const results: PurgedLogResult[] = [];
      for (const log of logs) {
        const entries = plan.rows.filter((row) => row.log === log);
        const result: PurgedLogResult = { log, partitions: [], rows: 0, maxPurgedId: null };
        // The run's record, brought up to date in the transaction of each step (see `purges`).
        const record = dryRun
          ? undefined
          : (
              await client.query<{ id: string }>(
                `INSERT INTO ${s}.purges (log, older_than, cutoff) VALUES ($1, $2, $3) RETURNING id::text`,
                [log, olderThan, cutoff],
              )
            ).rows[0]?.id;
        for (const entry of entries) {
          const done =
            record === undefined
              ? { rows: Number(entry.rows), maxId: entry.max_id }
              : entry.action === 'drop'
                ? await dropPartition(client, s, log, entry.partition_name, record, lockTimeoutMs)
                : await deleteOlderRows(client, s, entry.partition_name, TIME_COLUMN[log], cutoff, batchSize, record);
          result.partitions.push({ name: entry.partition_name, action: entry.action, rows: done.rows });
          result.rows += done.rows;
          result.maxPurgedId = maxId(result.maxPurgedId, done.maxId);
        }
        if (record !== undefined) {
          await client.query(`UPDATE ${s}.purges SET finished_at = now() WHERE id = $1`, [record]);
        }
        results.push(result);
      }
      return { olderThan, cutoff, logs: results, applied: !dryRun };
    } finally {
      await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lock]).catch(() => undefined);
    }
  }
}

/**
 * Runs `work` with the session searching pg_catalog alone (see SAFE_SEARCH_PATH_LOCAL; a purge spans many
 * transactions), then puts the session's search_path back.
 */
async function withSafeSearchPath<T>(client: pg.ClientBase, work: () => Promise<T>): Promise<T> {
  const { rows } = await client.query<{ search_path: string }>('SHOW search_path');
  await client.query('SET search_path = pg_catalog, pg_temp');
  try {
    return await work();
  } finally {
    await client
      .query(`SELECT set_config('search_path', $1, false)`, [rows[0]?.search_path ?? ''])
      .catch(() => undefined);
  }
}

/**
 * Now minus the period, in UTC; a period without a unit, unparsable, infinite, zero or negative is a
 * ComplianceInputError.
 */
export async function retentionCutoff(db: Queryable, quotedSchema: string, olderThan: string): Promise<Date> {
  let cutoff: unknown;
  try {
    const { rows } = await db.query<{ cutoff: unknown }>(`SELECT ${quotedSchema}.purge_cutoff($1) AS cutoff`, [
      olderThan,
    ]);
    cutoff = rows[0]?.cutoff;
  } catch (error) {
    if ((error as { code?: unknown }).code === '22023') {
      throw new ComplianceInputError((error as Error).message.replace(/^auditrum: /, ''), { cause: error });
    }
    throw error;
  }
  // PostgreSQL 17 and later read 'infinity' as an interval, and purge_cutoff() gives -infinity for it (pg reads that
  // as a number): a purge that removes nothing, recorded as one. Refused as PostgreSQL 15 and 16 refuse to read it.
  if (!(cutoff instanceof Date) || !Number.isFinite(cutoff.getTime())) {
    throw new ComplianceInputError(
      `'${olderThan.replaceAll("'", "''")}' is not a retention period: give e.g. '13 months', '1 year' or '90 days'`,
    );
  }
  return cutoff;
}

// The purge's record gains what one step removed, in that step's transaction.
function recordStep(s: string): string {
  return `UPDATE ${s}.purges SET rows_purged = rows_purged + $1::bigint,
    max_purged_id = greatest(max_purged_id, $2::bigint),
    dropped_partitions = dropped_partitions || $3::text[]
    WHERE id = $4::bigint`;
}

// Detaching first takes the partition out of every query on the log; the drop then touches nothing else. DETACH
// holds the log's strongest lock until commit, and every capture waits behind it: so the partition is counted
// before (no row can reach a month wholly older than the cut-off, and only purge deletes), checked under the lock by
// its highest id (one index lookup; counted again if it changed), and the lock is waited for briefly, tried again.
async function dropPartition(
  client: pg.ClientBase,
  s: string,
  log: PurgedLog,
  partition: string,
  record: string,
  lockTimeoutMs: number,
): Promise<{ rows: number; maxId: string | null }> {
  const p = `${s}.${quoteIdentifier(partition)}`;
  const count = `SELECT count(*)::text AS count, max(id)::text AS max FROM ${p}`;
  const before = (await client.query<{ count: string; max: string | null }>(count)).rows[0];
  for (let attempt = 1; ; attempt++) {
    try {
      return await inTransaction(client, async (tx) => {
        await tx.query(`SET LOCAL lock_timeout = ${lockTimeoutMs}`);
        await tx.query(`ALTER TABLE ${s}.${quoteIdentifier(log)} DETACH PARTITION ${p}`);
        const latest = await tx.query<{ max: string | null }>(`SELECT max(id)::text AS max FROM ${p}`);
        const counted =
          latest.rows[0]?.max === before?.max
            ? before
            : (await tx.query<{ count: string; max: string | null }>(count)).rows[0];
        await tx.query(`DROP TABLE ${p}`);
        const done = { rows: Number(counted?.count ?? 0), maxId: counted?.max ?? null };
        await tx.query(recordStep(s), [done.rows, done.maxId, [partition], record]);
        return done;
      });
    } catch (error) {
      if ((error as { code?: unknown }).code !== '55P03') throw error;
      if (attempt === LOCK_TRIES) {
        throw new Error(
          `auditrum: purge could not take the lock on ${s}.${quoteIdentifier(log)} to detach ${partition} in ${LOCK_TRIES} tries of ${lockTimeoutMs} ms: a long transaction that wrote to the log holds it; nothing of this partition was removed (run purge again)`,
          { cause: error },
        );
      }
      await setTimeout(lockTimeoutMs);
    }
  }
}

async function deleteOlderRows(
  client: pg.ClientBase,
  s: string,
  partition: string,
  timeColumn: string,
  cutoff: Date,
  batchSize: number,
  record: string,
): Promise<{ rows: number; maxId: string | null }> {
  const p = `${s}.${quoteIdentifier(partition)}`;
  const column = quoteIdentifier(timeColumn);
  let total = 0;
  let max: string | null = null;
  for (;;) {
    const { rows } = await client.query<{ count: string; max: string | null }>(
      `WITH gone AS (
         DELETE FROM ${p} WHERE ctid = ANY (ARRAY(SELECT ctid FROM ${p} WHERE ${column} < $1 LIMIT $2)) RETURNING id),
       counted AS (SELECT count(*) AS count, max(id) AS max FROM gone),
       recorded AS (
         UPDATE ${s}.purges SET rows_purged = rows_purged + counted.count,
           max_purged_id = greatest(max_purged_id, counted.max)
         FROM counted WHERE purges.id = $3::bigint AND counted.count > 0)
       SELECT count::text, max::text FROM counted`,
      [cutoff, batchSize, record],
    );
    const count = Number(rows[0]?.count ?? 0);
    if (count === 0) return { rows: total, maxId: max };
    total += count;
    max = maxId(max, rows[0]?.max ?? null);
  }
}

function isLogList(value: unknown): value is readonly PurgedLog[] {
  return Array.isArray(value) && value.length > 0 && value.every((log) => PURGED_LOGS.includes(log));
}

function maxId(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return BigInt(a) >= BigInt(b) ? a : b;
}
