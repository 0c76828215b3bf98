import type { KeyObject } from 'node:crypto';
import type { Queryable } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
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
  checkpoints: { checked: number; problems: CheckpointProblem[] };
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
  const { rows: problems } = await db.query<{
    problem: ChainProblemKind;
    seq: string | null;
    change_id: string | null;
    detail: string;
  }>(
    `SELECT v.problem, v.seq::text, v.change_id::text, v.detail FROM ${s}.verify_chain() v ORDER BY v.seq NULLS LAST, v.change_id`,
  );
  const { rows: status } = await db.query<{ last_seq: string; unsealed: string; last_sealed_at: Date | null }>(
    `SELECT last_seq::text, unsealed::text, last_sealed_at FROM ${s}.chain_status()`,
  );
  // A Set: a checkpoint file of a seal every hour holds thousands of lines.
  const signedSet = new Set(signed);
  const checkpointProblems: CheckpointProblem[] = checkpoints
    .filter((c) => !signedSet.has(c))
    .map((c) => ({ seq: c.seq, detail: `checkpoint ${c.seq} of ${c.time}: its signature does not hold` }));
  if (signed.length > 0) {
    const { rows } = await db.query<{ seq: string; hash: string; chained: string | null; last_seq: string }>(
      `SELECT cp.seq::text, encode(cp.hash, 'hex') AS hash, encode(ch.hash, 'hex') AS chained,
         (SELECT coalesce(max(seq), 0) FROM ${s}.chain)::text AS last_seq
       FROM unnest($1::bigint[], $2::bytea[]) AS cp(seq, hash) LEFT JOIN ${s}.chain ch ON ch.seq = cp.seq`,
      [signed.map((c) => c.seq), signed.map((c) => Buffer.from(c.hash, 'hex'))],
    );
    for (const row of rows) {
      if (row.chained === null) {
        checkpointProblems.push({
          seq: row.seq,
          detail: `the chain ends at link ${row.last_seq}, before checkpoint ${row.seq}: its last links are gone`,
        });
      } else if (row.chained !== row.hash) {
        checkpointProblems.push({
          seq: row.seq,
          detail: `link ${row.seq}'s hash is not the checkpoint's: the chain was rewritten up to it`,
        });
      }
    }
  }
  return {
    ok: problems.length === 0 && checkpointProblems.length === 0,
    links: status[0]?.last_seq ?? '0',
    unsealed: Number(status[0]?.unsealed ?? 0),
    lastSealedAt: status[0]?.last_sealed_at ?? null,
    problems: problems.map((p) => ({ problem: p.problem, seq: p.seq, changeId: p.change_id, detail: p.detail })),
    checkpoints: { checked: signed.length, problems: checkpointProblems },
  };
}
