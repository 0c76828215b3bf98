import type { KeyObject } from 'node:crypto';
import type { Queryable } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import { assertNoRestorePending } from '../schema/restore-boundary.js';
import type { Checkpoint } from './checkpoint.js';
import { checkpointSignatureHolds } from './checkpoint.js';
import { ComplianceInputError } from './compliance-input-error.js';

/** What verify_chain() names: a row changed, reordered, deleted or inserted, or the chain's own links altered. */
export type ChainProblemKind = 'changed' | 'reordered' | 'deleted' | 'inserted' | 'missing links' | 'altered link';

export interface ChainProblem {
  problem: ChainProblemKind;
  /** The link concerned (null for a row that was never sealed). */
  seq: string | null;
  /** The change row concerned (null for missing links). */
  changeId: string | null;
  detail: string;
}

/** A sealed row whose values an erasure replaced, as that erasure left it: not a break. */
export interface ErasedLink {
  seq: string;
  changeId: string;
  erasureId: string;
}

export interface CheckpointProblem {
  seq: string;
  detail: string;
}

export interface VerifyOptions {
  /** Checkpoints kept outside the database (parseCheckpoints), checked with `publicKey`. */
  checkpoints?: readonly Checkpoint[];
  /** The Ed25519 public key of the checkpoints' signing key (ed25519PublicKey). */
  publicKey?: KeyObject | undefined;
}

export interface VerifyResult {
  /** No problem in the chain and none with the checkpoints. */
  ok: boolean;
  /** Links in the chain (its last seq). */
  links: string;
  /** Rows not sealed yet: of transactions that had not ended at the last seal (not a problem). */
  unsealed: number;
  lastSealedAt: Date | null;
  problems: ChainProblem[];
  /** Rows erased (GDPR art. 17) and still as their erasure left them. */
  erased: ErasedLink[];
  checkpoints: { checked: number; problems: CheckpointProblem[] };
  /** The run's id in `verifications`; null when the role may not record it (it verified all the same). */
  verificationId: string | null;
}

/**
 * Checks the whole chain in the server (verify_chain(): one pass over the chain and the change log, nothing of them
 * held in this process) and each checkpoint: its signature, and that the chain still holds its hash at its seq (a
 * chain rewritten, or cut short at its end, after the checkpoint was taken).
 */
export async function verify(db: Queryable, schema: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const { checkpoints = [], publicKey } = options;
  if (checkpoints.length > 0 && publicKey === undefined) {
    throw new ComplianceInputError('give the public key that checks the checkpoints');
  }
  const signed = publicKey === undefined ? [] : checkpoints.filter((c) => checkpointSignatureHolds(c, publicKey));
  if (checkpoints.length > 0 && signed.length === 0) {
    throw new ComplianceInputError(
      'no checkpoint is signed by this public key: is it the public half of the key that signed them?',
    );
  }
  const s = quoteIdentifier(schema);
  // A restored log whose boundary is not recorded: its restored rows would be judged by another cluster's txids.
  await assertNoRestorePending(db, s, 'verify()');
  // One statement, so one snapshot: the links counted are the links checked, also while a seal runs, and the
  // checkpoints are compared with that same chain. (Not a REPEATABLE READ transaction: the caller may be in one.)
  const { rows } = await db.query<{
    found: FoundRow[];
    last_seq: string;
    unsealed: string;
    last_sealed_at: Date | null;
    chain_end: string;
    chained: { seq: string; hash: string; chained: string | null }[];
  }>(
    `SELECT
       (SELECT coalesce(json_agg(json_build_object('problem', v.problem, 'seq', v.seq::text,
          'change_id', v.change_id::text, 'detail', v.detail, 'erasure_id', v.erasure_id::text)
          ORDER BY v.seq NULLS LAST, v.change_id), '[]') FROM ${s}.verify_chain() v) AS found,
       st.last_seq::text, st.unsealed::text, st.last_sealed_at,
       (SELECT coalesce(max(seq), 0) FROM ${s}.chain)::text AS chain_end,
       (SELECT coalesce(json_agg(json_build_object('seq', cp.seq::text, 'hash', encode(cp.hash, 'hex'),
          'chained', encode(ch.hash, 'hex'))), '[]')
        FROM unnest($1::bigint[], $2::bytea[]) AS cp(seq, hash) LEFT JOIN ${s}.chain ch ON ch.seq = cp.seq) AS chained
     FROM ${s}.chain_status() st`,
    [signed.map((c) => c.seq), signed.map((c) => Buffer.from(c.hash, 'hex'))],
  );
  const result = rows[0];
  if (result === undefined) throw new Error('auditrum: chain_status() returned nothing');
  const checkpointProblems = checkpointProblemsOf(checkpoints, signed, result.chained, result.chain_end);
  const problems = result.found.filter((p) => p.problem !== 'erased');
  const erased = result.found.filter((p) => p.problem === 'erased');
  const verificationId = await recordVerification(db, s, {
    links: result.last_seq,
    problems: problems.length,
    erased: erased.length,
    checkpoints: checkpoints.length === 0 ? null : signed.length,
    checkpointFailures: checkpoints.length === 0 ? null : checkpointProblems.length,
    newestCheckpointAt: newestTime(checkpoints),
  });
  return {
    ok: problems.length === 0 && checkpointProblems.length === 0,
    links: result.last_seq,
    unsealed: Number(result.unsealed),
    lastSealedAt: result.last_sealed_at,
    problems: problems.map((p) => ({
      problem: p.problem as ChainProblemKind,
      seq: p.seq,
      changeId: p.change_id,
      detail: p.detail,
    })),
    erased: erased.map((p) => ({
      seq: p.seq as string,
      changeId: p.change_id as string,
      erasureId: p.erasure_id as string,
    })),
    checkpoints: { checked: signed.length, problems: checkpointProblems },
    verificationId,
  };
}

/** A row of verify_chain(): a break, or an erased row. */
interface FoundRow {
  problem: ChainProblemKind | 'erased';
  seq: string | null;
  change_id: string | null;
  detail: string;
  erasure_id: string | null;
}

/** Checkpoints whose signature fails, and signed ones the chain no longer holds (cut short, or rewritten). */
function checkpointProblemsOf(
  checkpoints: readonly Checkpoint[],
  signed: readonly Checkpoint[],
  chained: readonly { seq: string; hash: string; chained: string | null }[],
  chainEnd: string,
): CheckpointProblem[] {
  // A Set: a checkpoint file of a seal every hour holds thousands of lines.
  const signedSet = new Set(signed);
  const problems: CheckpointProblem[] = checkpoints
    .filter((c) => !signedSet.has(c))
    .map((c) => ({ seq: c.seq, detail: `checkpoint ${c.seq} of ${c.time}: its signature does not hold` }));
  for (const row of chained) {
    if (row.chained === null) {
      problems.push({
        seq: row.seq,
        detail: `the chain ends at link ${chainEnd}, before checkpoint ${row.seq}: its last links are gone`,
      });
    } else if (row.chained !== row.hash) {
      problems.push({
        seq: row.seq,
        detail: `link ${row.seq}'s hash is not the checkpoint's: the chain was rewritten up to it`,
      });
    }
  }
  return problems;
}

/** What a verify run records in `verifications` (and the integrity panel shows of it). */
export interface VerificationRecord {
  /** Links checked. */
  links: string;
  /** Breaks found: 0 means the chain verified. */
  problems: number;
  /** Rows reported as erased, not as breaks. */
  erased: number;
  /** Checkpoints checked; null for a run without a checkpoint file. */
  checkpoints: number | null;
  checkpointFailures: number | null;
  /** The newest checkpoint the file held; null without one. */
  newestCheckpointAt: string | null;
}

/**
 * Records the run in `verifications` when the role may (the admin role after harden; not the application role, nor
 * a read-only transaction or a standby): its id, or null. What the integrity panel shows as the last verify.
 */
async function recordVerification(client: Queryable, s: string, run: VerificationRecord): Promise<string | null> {
  const { rows: may } = await client.query<{ may: boolean }>(
    `SELECT has_table_privilege($1, 'INSERT') AND current_setting('transaction_read_only') = 'off' AS may`,
    [`${s}.verifications`],
  );
  if (!may[0]?.may) return null;
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO ${s}.verifications (links, problems, erased, checkpoints, checkpoint_failures, newest_checkpoint_at)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id::text`,
    [run.links, run.problems, run.erased, run.checkpoints, run.checkpointFailures, run.newestCheckpointAt],
  );
  return rows[0]?.id ?? null;
}

function newestTime(checkpoints: readonly Checkpoint[]): string | null {
  let newest: string | null = null;
  for (const c of checkpoints) {
    if (newest === null || Date.parse(c.time) > Date.parse(newest)) newest = c.time;
  }
  return newest;
}
