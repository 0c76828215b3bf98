import type { KeyObject } from 'node:crypto';
import { createHash, createPublicKey } from 'node:crypto';
import type { Queryable } from '../db/queryable.js';
import { inTransaction } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import type { Checkpoint } from './checkpoint.js';
import { signCheckpoint } from './checkpoint.js';

export interface SealOptions {
  /** An Ed25519 private key (see ed25519PrivateKey): the result then carries a checkpoint signed with it. */
  signingKey?: KeyObject | undefined;
}

export interface SealResult {
  sealId: string;
  /** Rows sealed by this run. */
  rows: number;
  /** The chain's last link after the run: its seq (0 while the chain is empty) and hash (hex, null then). */
  lastSeq: string;
  lastHash: string | null;
  sealedAt: Date;
  /** Present with a signing key and a chain that is not empty. */
  checkpoint?: Checkpoint;
}

/**
 * Seals the change rows whose transactions have ended (`seal()` in SQL): appends a link for each to the chain, in one
 * transaction of its own, waiting for no writer. Run it as the schema's owner, from a schedule or the application's
 * maintenance; rows of transactions still open are left for a later run.
 */
export async function seal(db: Queryable, schema: string, options: SealOptions = {}): Promise<SealResult> {
  const s = quoteIdentifier(schema);
  // seal() reads each statement's snapshot, so it needs READ COMMITTED whatever the session's default.
  const row = await inTransaction(db, async (client) => {
    await client.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
    const fingerprint = options.signingKey === undefined ? null : keyFingerprint(options.signingKey);
    const { rows } = await client.query<{
      seal_id: string;
      rows: string;
      last_seq: string;
      last_hash: string | null;
      sealed_at: Date;
    }>(
      `SELECT seal_id::text, rows::text, last_seq::text, encode(last_hash, 'hex') AS last_hash, sealed_at FROM ${s}.seal($1)`,
      [fingerprint],
    );
    return rows[0];
  });
  if (row === undefined) throw new Error('auditrum: seal() returned nothing');
  const result: SealResult = {
    sealId: row.seal_id,
    rows: Number(row.rows),
    lastSeq: row.last_seq,
    lastHash: row.last_hash,
    sealedAt: row.sealed_at,
  };
  if (options.signingKey !== undefined && row.last_hash !== null) {
    result.checkpoint = signCheckpoint(row.last_seq, row.last_hash, row.sealed_at, options.signingKey);
  }
  return result;
}

/**
 * The SHA-256 (hex) of a key's public half as DER SubjectPublicKeyInfo: what `seals.checkpoint_key` records of the
 * key that signed a seal's checkpoint (`openssl pkey -pubin -outform DER | sha256sum` gives the same).
 */
export function keyFingerprint(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}
