import type { KeyObject } from 'node:crypto';
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { ComplianceInputError } from './compliance-input-error.js';

/**
 * A signed checkpoint of the chain: its last link's seq and hash at a time, signed with an Ed25519 key that never
 * enters the database. Kept by the operator away from the database host (a file, a log service): a chain rewritten
 * or cut short after it no longer matches it.
 */
export interface Checkpoint {
  type: 'auditrum.checkpoint';
  version: 1;
  /** The last link's seq, as a decimal string (a bigint). */
  seq: string;
  /** The last link's hash, hex. */
  hash: string;
  /** When it was sealed, ISO 8601 in UTC. */
  time: string;
  /** Ed25519 signature of signedText(seq, hash, time), base64. */
  signature: string;
}

const CHECKPOINT_TYPE = 'auditrum.checkpoint';

// What is signed: the fields in a fixed order, one spelling each, so that the JSON's key order or spacing never
// matters.
function signedText(seq: string, hash: string, time: string): Buffer {
  return Buffer.from(`${CHECKPOINT_TYPE} v1\n${seq}\n${hash}\n${time}\n`, 'utf8');
}

/** An Ed25519 private key from PEM (PKCS#8, as `openssl genpkey -algorithm ed25519` writes); `source` names it. */
export function ed25519PrivateKey(pem: string | Buffer, source: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw new ComplianceInputError(
      `${source} is not a PEM private key (make one: openssl genpkey -algorithm ed25519)`,
      {
        cause: error,
      },
    );
  }
  return ed25519Only(key, source);
}

/** An Ed25519 public key from PEM (SPKI, as `openssl pkey -pubout` writes); `source` names it. */
export function ed25519PublicKey(pem: string | Buffer, source: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    throw new ComplianceInputError(`${source} is not a PEM public key (make it: openssl pkey -pubout -in KEY)`, {
      cause: error,
    });
  }
  return ed25519Only(key, source);
}

function ed25519Only(key: KeyObject, source: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new ComplianceInputError(`${source} is an ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519`);
  }
  return key;
}

export function signCheckpoint(seq: string, hash: string, time: Date, key: KeyObject): Checkpoint {
  const iso = time.toISOString();
  const signature = sign(null, signedText(seq, hash, iso), key).toString('base64');
  return { type: CHECKPOINT_TYPE, version: 1, seq, hash, time: iso, signature };
}

export function checkpointSignatureHolds(checkpoint: Checkpoint, key: KeyObject): boolean {
  return verify(
    null,
    signedText(checkpoint.seq, checkpoint.hash, checkpoint.time),
    key,
    Buffer.from(checkpoint.signature, 'base64'),
  );
}

/**
 * The checkpoints of a JSON-lines text (blank lines skipped). A line that is not one of ours is a
 * ComplianceInputError naming the line: a file of something else must not pass as an empty list of checkpoints.
 */
export function parseCheckpoints(text: string, source: string): Checkpoint[] {
  const checkpoints: Checkpoint[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      value = undefined;
    }
    if (!isCheckpoint(value)) {
      throw new ComplianceInputError(`line ${index + 1} of ${source} is not an Auditrum checkpoint`);
    }
    checkpoints.push(value);
  }
  if (checkpoints.length === 0) throw new ComplianceInputError(`${source} holds no checkpoints`);
  return checkpoints;
}

function isCheckpoint(value: unknown): value is Checkpoint {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Record<string, unknown>;
  return (
    c.type === CHECKPOINT_TYPE &&
    c.version === 1 &&
    typeof c.seq === 'string' &&
    /^[1-9]\d{0,18}$/.test(c.seq) &&
    typeof c.hash === 'string' &&
    /^[0-9a-f]{64}$/.test(c.hash) &&
    typeof c.time === 'string' &&
    !Number.isNaN(Date.parse(c.time)) &&
    typeof c.signature === 'string' &&
    /^[A-Za-z0-9+/]{86}==$/.test(c.signature)
  );
}
