import type { Queryable } from '../db/queryable.js';
import { inTransaction } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import { DEFAULT_MAX_SEAL_AGE_HOURS, sealTooOld } from './chain-check.js';
import type { ErasurePage } from './erasure-events.js';
import { listErasures } from './erasure-events.js';
import { isoUtc } from './iso-utc.js';
import { unreadable } from './read-access.js';
import type { VerificationRecord } from './verify.js';

/**
 * What the admin's integrity panel shows: the chain's last seal and last verify, the rows waiting for a seal, how old
 * the newest signed checkpoint is, the purges and the erasures recorded. Times are ISO 8601 in UTC with microseconds;
 * ids and seqs (bigints) are text, counts numbers.
 */
export type IntegrityStatus = IntegrityUnreadable | IntegrityReadable;

/** The role may not read some of what the status is made of (an admin pool granted only the change log, say). */
export interface IntegrityUnreadable {
  readable: false;
  /** The database role asking. */
  role: string;
  /** What it may not read: `schema.table` for a table, `schema.chain_status()` for the function. */
  missing: string[];
}

export interface IntegrityReadable {
  readable: true;
  /** The database's clock when the status was read: ages are counted from it, not from the browser's clock. */
  checkedAt: string;
  /** The age after which the last seal is too old, as doctor's `--seal-max-age` defaults to. */
  maxSealAgeHours: number;
  chain: {
    /** Links in the chain (its last seq; '0' while nothing was sealed). */
    links: string;
    /**
     * Rows of transactions a seal has not taken yet: counted up to `exactCountUpTo`, estimated above it (then
     * `unsealedEstimated` is true and the figure is the span of the log's ids since the last seal's floor: gaps in the
     * sequence and rows of transactions already sealed make it a little high, never zero).
     */
    unsealed: number;
    /** Whether `unsealed` is an estimate (more rows wait than `exactCountUpTo`: counting them all would be slow). */
    unsealedEstimated: boolean;
    /** Seal runs recorded. */
    seals: number;
  };
  /**
   * `never`: nothing was ever sealed; `stale`: the last seal is older than `maxSealAgeHours` (doctor's problem);
   * `recent` otherwise.
   */
  sealState: 'never' | 'stale' | 'recent';
  lastSeal: SealEvent | null;
  /** The last seal that emitted a signed checkpoint (null when none ever did). */
  lastSignedSeal: SealEvent | null;
  /** The last `auditrum verify` run recorded (null: never verified). */
  lastVerification: VerificationEvent | null;
  /** The last verify run given a checkpoint file (null when none was). */
  lastCheckpointVerification: VerificationEvent | null;
  purges: PurgeEvents;
  erasures: ErasurePage;
}

export interface SealEvent {
  id: string;
  sealedAt: string;
  sealedBy: string;
  /** Rows this run sealed. */
  rows: number;
  /** The chain's last seq after it. */
  lastSeq: string;
  /** Whether it emitted a signed checkpoint. */
  signed: boolean;
  /** SHA-256 fingerprint (hex) of the signing key's public half; null when it signed none. */
  checkpointKey: string | null;
  /** Hours between it and `checkedAt`. */
  ageHours: number;
}

/** A recorded verify run (links checked, breaks and erased rows found, checkpoints checked), with who and when. */
export interface VerificationEvent extends VerificationRecord {
  id: string;
  verifiedAt: string;
  verifiedBy: string;
  /** Hours between the newest checkpoint and `checkedAt`. */
  ageHours: number;
}

export interface PurgeEvent {
  id: string;
  purgedAt: string;
  purgedBy: string;
  log: 'changes' | 'api_requests';
  /** The retention period asked for, as given (`13 months`). */
  olderThan: string;
  cutoff: string;
  droppedPartitions: string[];
  rows: number;
  /** Null for a run that stopped midway: run it again to finish. */
  finishedAt: string | null;
}

export interface PurgeEvents {
  /** Purge runs recorded, in all (one row per log per run). */
  total: number;
  /** The newest ones, newest first. */
  recent: PurgeEvent[];
}

export interface IntegrityStatusOptions {
  /** Erasures on the page: 1 to 200, default 50. */
  erasuresLimit?: number;
  /** The page of erasures with ids below this one (an id as text, from `erasures.nextBefore`). */
  erasuresBefore?: string | undefined;
  /**
   * Up to how many unsealed rows are counted exactly (1 to 1,000,000, default 1,000); above it the number is an
   * estimate. A never-sealed log of millions of rows took 120 ms and more to count (docs/benchmarks.md).
   */
  exactCountUpTo?: number;
}

/** How many purge runs the status lists (purges are rare: a scheduled run adds one row per log). */
export const RECENT_PURGES = 20;
const MAX_ERASURES_LIMIT = 200;
/** Counting 1,000 rows takes a few ms even on a loaded machine; the panel must answer in well under 50 ms. */
export const EXACT_UNSEALED_COUNT = 1000;
const MAX_EXACT_COUNT = 1_000_000;
const BIGINT_ID = /^[1-9]\d{0,18}$/;

/** The tables the status reads, in the order `missing` names them. */
const READ_TABLES = ['seals', 'verifications', 'erasures', 'purges', 'changes', 'chain', 'restore_boundaries'] as const;

// Columns are qualified in ORDER BY: a bare `id` there would name the output column `id::text` and sort ids as text
// (9 after 10), and by a sort of the whole table instead of the primary key read backwards.
const hoursSince = (column: string) => `extract(epoch FROM now() - ${column})::float8 / 3600`;

/**
 * The integrity panel's status, read in one REPEATABLE READ, READ ONLY transaction (one snapshot: the rows not yet
 * sealed and the last seal agree). Reads only; a role that may not read a table it needs gets `readable: false`
 * with the names, not an error.
 */
export async function integrityStatus(
  db: Queryable,
  schema: string,
  options: IntegrityStatusOptions = {},
): Promise<IntegrityStatus> {
  const limit = options.erasuresLimit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_ERASURES_LIMIT) {
    throw new RangeError(`auditrum: erasuresLimit must be a whole number from 1 to 200, not ${String(limit)}`);
  }
  const before = options.erasuresBefore;
  if (before !== undefined && (!BIGINT_ID.test(before) || BigInt(before) > 9223372036854775807n)) {
    throw new RangeError(`auditrum: erasuresBefore must be an erasure id (digits), not ${JSON.stringify(before)}`);
  }
  const exactUpTo = options.exactCountUpTo ?? EXACT_UNSEALED_COUNT;
  if (!Number.isInteger(exactUpTo) || exactUpTo < 1 || exactUpTo > MAX_EXACT_COUNT) {
    throw new RangeError(`auditrum: exactCountUpTo must be a whole number from 1 to 1000000, not ${String(exactUpTo)}`);
  }
  const s = quoteIdentifier(schema);
  return inTransaction(
    db,
    async (client) => {
      await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const { rows: now } = await client.query<{ role: string; checked_at: string }>(
        `SELECT current_user::text AS role, ${isoUtc('now()')} AS checked_at`,
      );
      const { role, checked_at: checkedAt } = now[0] as { role: string; checked_at: string };
      const missing = await unreadable(client, schema, READ_TABLES);
      if (missing.length > 0) return { readable: false, role, missing };

      const chain = await chainState(client, s, exactUpTo);
      const lastSeal = await sealEvent(client, s, '');
      const lastSignedSeal = lastSeal?.signed
        ? lastSeal
        : await sealEvent(client, s, 'WHERE s.checkpoint_key IS NOT NULL');
      const lastVerification = await verificationEvent(client, s, '');
      const lastCheckpointVerification =
        lastVerification === null || lastVerification.checkpoints !== null
          ? lastVerification
          : await verificationEvent(client, s, 'WHERE v.checkpoints IS NOT NULL');
      const maxSealAgeHours = DEFAULT_MAX_SEAL_AGE_HOURS;
      return {
        readable: true,
        checkedAt,
        maxSealAgeHours,
        chain,
        sealState: lastSeal === null ? 'never' : sealTooOld(lastSeal.ageHours, maxSealAgeHours) ? 'stale' : 'recent',
        lastSeal,
        lastSignedSeal,
        lastVerification,
        lastCheckpointVerification,
        purges: await purgeEvents(client, s),
        erasures: await listErasures(client, schema, { limit, before }),
      };
    },
    // Reads only: nothing to commit.
    { rollback: true },
  );
}

/**
 * The chain's length, its seal runs and the rows waiting for a seal: the rows chain_status() (migration 32) counts,
 * the restored rows not sealed yet and those above the id floor of the last seal's transaction horizon whose
 * transactions are not below it (_seal_start()). They are counted up to `exactUpTo` (a LIMIT stops each count there);
 * beyond, the figure is the span of ids above the lowest of them (the newest id and the oldest above it, each one
 * probe of the primary key), which counts every waiting row and errs only upwards: never "all sealed" while a row
 * waits.
 */
async function chainState(db: Queryable, schemaSql: string, exactUpTo: number): Promise<IntegrityReadable['chain']> {
  const { rows: sealed } = await db.query<{ links: string; seals: string } & SealStart>(
    `WITH last_seal AS (SELECT s.last_seq FROM ${schemaSql}.seals s ORDER BY s.id DESC LIMIT 1)
     SELECT coalesce((SELECT last_seq FROM last_seal), 0)::text AS links,
       (SELECT count(*) FROM ${schemaSql}.seals)::text AS seals,
       st.restored_after::text, st.restored_upto::text, st.floor_id::text, st.xid_from::text
     FROM ${schemaSql}._seal_start() st`,
  );
  const { links, seals, ...start } = sealed[0] as { links: string; seals: string } & SealStart;
  const restoredWaiting = BigInt(start.restored_upto) > BigInt(start.restored_after);
  // In id order, so that the count reads the primary key from the floor up and stops at the limit (given only the
  // floor, the planner chose a bitmap of every id above it: 40 ms and more on a never-sealed million rows).
  const { rows } = await db.query<{ counted: number; span: string | null }>(
    `SELECT (SELECT count(*)::int FROM (
         SELECT FROM ${schemaSql}.changes c WHERE c.id > $1::bigint AND c.txid >= $2::bigint ORDER BY c.id LIMIT $3
       ) waiting) + (SELECT count(*)::int FROM (
         SELECT FROM ${schemaSql}.changes c WHERE c.id > $4::bigint AND c.id <= $5::bigint
           AND NOT EXISTS (SELECT FROM ${schemaSql}.chain l WHERE l.change_id = c.id) ORDER BY c.id LIMIT $3
       ) restored) AS counted,
       ((SELECT max(c.id) FROM ${schemaSql}.changes c)
         - (SELECT min(c.id) FROM ${schemaSql}.changes c WHERE c.id > $6::bigint) + 1)::text AS span`,
    [
      start.floor_id,
      start.xid_from,
      exactUpTo + 1,
      start.restored_after,
      start.restored_upto,
      restoredWaiting ? start.restored_after : start.floor_id,
    ],
  );
  const { counted, span } = rows[0] as { counted: number; span: string | null };
  const estimated = counted > exactUpTo;
  return {
    links,
    unsealed: estimated ? Math.max(Number(span ?? 0), counted) : counted,
    unsealedEstimated: estimated,
    seals: Number(seals),
  };
}

/** Where the next seal starts (_seal_start(), migration 32), as text. */
interface SealStart {
  restored_after: string;
  restored_upto: string;
  floor_id: string;
  xid_from: string;
}

async function sealEvent(db: Queryable, schemaSql: string, where: string): Promise<SealEvent | null> {
  const { rows } = await db.query<{
    id: string;
    sealed_at: string;
    sealed_by: string;
    rows: string;
    last_seq: string;
    checkpoint_key: string | null;
    age_hours: number;
  }>(
    `SELECT s.id::text, ${isoUtc('s.sealed_at')} AS sealed_at, s.sealed_by::text, s.rows::text, s.last_seq::text,
       s.checkpoint_key, ${hoursSince('s.sealed_at')} AS age_hours
     FROM ${schemaSql}.seals s ${where} ORDER BY s.id DESC LIMIT 1`,
  );
  const row = rows[0];
  if (row === undefined) return null;
  return {
    id: row.id,
    sealedAt: row.sealed_at,
    sealedBy: row.sealed_by,
    rows: Number(row.rows),
    lastSeq: row.last_seq,
    signed: row.checkpoint_key !== null,
    checkpointKey: row.checkpoint_key,
    ageHours: row.age_hours,
  };
}

async function verificationEvent(db: Queryable, schemaSql: string, where: string): Promise<VerificationEvent | null> {
  const { rows } = await db.query<{
    id: string;
    verified_at: string;
    verified_by: string;
    links: string;
    problems: string;
    erased: string;
    checkpoints: number | null;
    checkpoint_failures: number | null;
    newest_checkpoint_at: string | null;
    age_hours: number;
  }>(
    `SELECT v.id::text, ${isoUtc('v.verified_at')} AS verified_at, v.verified_by::text, v.links::text,
       v.problems::text, v.erased::text, v.checkpoints, v.checkpoint_failures,
       ${isoUtc('v.newest_checkpoint_at')} AS newest_checkpoint_at, ${hoursSince('v.verified_at')} AS age_hours
     FROM ${schemaSql}.verifications v ${where} ORDER BY v.id DESC LIMIT 1`,
  );
  const row = rows[0];
  if (row === undefined) return null;
  return {
    id: row.id,
    verifiedAt: row.verified_at,
    verifiedBy: row.verified_by,
    links: row.links,
    problems: Number(row.problems),
    erased: Number(row.erased),
    checkpoints: row.checkpoints,
    checkpointFailures: row.checkpoint_failures,
    newestCheckpointAt: row.newest_checkpoint_at,
    ageHours: row.age_hours,
  };
}

async function purgeEvents(db: Queryable, schemaSql: string): Promise<PurgeEvents> {
  const { rows } = await db.query<{
    id: string;
    purged_at: string;
    purged_by: string;
    log: 'changes' | 'api_requests';
    older_than: string;
    cutoff: string;
    dropped_partitions: string[];
    rows_purged: string;
    finished_at: string | null;
    total: string;
  }>(
    `SELECT p.id::text, ${isoUtc('p.purged_at')} AS purged_at, p.purged_by::text, p.log, p.older_than,
       ${isoUtc('p.cutoff')} AS cutoff, p.dropped_partitions, p.rows_purged::text, ${isoUtc('p.finished_at')} AS finished_at,
       (SELECT count(*) FROM ${schemaSql}.purges)::text AS total
     FROM ${schemaSql}.purges p ORDER BY p.id DESC LIMIT ${RECENT_PURGES}`,
  );
  return {
    total: Number(rows[0]?.total ?? 0),
    recent: rows.map((row) => ({
      id: row.id,
      purgedAt: row.purged_at,
      purgedBy: row.purged_by,
      log: row.log,
      olderThan: row.older_than,
      cutoff: row.cutoff,
      droppedPartitions: row.dropped_partitions,
      rows: Number(row.rows_purged),
      finishedAt: row.finished_at,
    })),
  };
}
