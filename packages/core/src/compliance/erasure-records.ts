/**
 * What an erasure (GDPR art. 17, `auditrum erase`) leaves in the logs, and the rows of the tables that record the
 * chain's verifications and the erasures. One definition for the library that writes them and the admin that shows
 * them; free of Node.js imports, so that the admin UI can use it.
 */

/** What an erased value becomes in a change row (a column of old_values/new_values, a context field, a row key). */
export const ERASED_VALUE = '[erased]';

const ERASED_ACTOR_PREFIX = 'erased:';

/**
 * What an erased actor id becomes: a pseudonym per erasure, so that the history still shows that these changes were
 * made by one person, without saying who. An erasure of a row whose key column it erases gives the row key of every
 * version the same pseudonym.
 */
export function erasedActorId(erasureId: string): string {
  return `${ERASED_ACTOR_PREFIX}${erasureId}`;
}

/**
 * The erasure whose pseudonym this text reads as (`erased:7`: '7'), or null. Only a candidate: an application may
 * name a real actor (or a row) so, and only the erasure's records (`erased_changes`, `erased_api_requests`) say which
 * rows hold its pseudonym (ActorRef.erasure, ChangeErasuresResponse.actorErasure).
 */
export function erasureOfActorId(actorId: string): string | null {
  const id = /^erased:([1-9]\d{0,18})$/.exec(actorId)?.[1];
  // An erasure's id is a bigint: a larger number is no erasure's.
  return id === undefined || BigInt(id) > 9223372036854775807n ? null : id;
}

/** What a masked API-log body (request or response) becomes: a body marker naming the erasure. */
export interface ErasedBody {
  $auditrum: 'erased';
  erasure: string;
}

export function erasedBody(erasureId: string): ErasedBody {
  return { $auditrum: 'erased', erasure: erasureId };
}

/**
 * Whose values an erasure removed, as `erasures.subject` records it: one actor's (the actor id itself is not kept:
 * with it, the pseudonym would lead back to the person, so it reads ERASED_VALUE), or some columns of one row of a
 * tracked table (`schema.table`; the key as the log's `row_key` holds it, or ERASED_VALUE when a key column was
 * erased).
 */
export type ErasureSubject =
  | { actor_id: string }
  | { table: string; key: Record<string, unknown> | string; columns: string[] };

/** A row of `verifications`: one `auditrum verify` run. Ids and counts of bigint columns are decimal strings. */
export interface VerificationRow {
  id: string;
  verifiedAt: Date;
  /** The database role that ran it. */
  verifiedBy: string;
  /** Links checked. */
  links: string;
  /** Breaks found; '0' when the chain verified. */
  problems: string;
  /** Rows reported as erased (not breaks). */
  erased: string;
  /** Checkpoints checked; null for a run without a checkpoint file. */
  checkpoints: number | null;
  checkpointFailures: number | null;
  /** Time of the newest checkpoint the file held. */
  newestCheckpointAt: Date | null;
}

/** A row of `erasures`: one erasure. */
export interface ErasureRow {
  id: string;
  erasedAt: Date;
  /** The database role that ran it. */
  erasedBy: string;
  /** Who asked for it (the CLI's --actor, the admin's user). */
  actor: string | null;
  reason: string;
  subject: ErasureSubject;
  /** Change rows whose values were erased. */
  changes: string;
  /** API-log rows whose bodies were masked. */
  apiRequests: string;
}

/** A row of `erased_changes`: one change row an erasure touched. */
export interface ErasedChangeRow {
  erasureId: string;
  changeId: string;
}

/** A row of `seals` as the integrity panel reads it. */
export interface SealRow {
  id: string;
  sealedAt: Date;
  sealedBy: string;
  /** Rows sealed by this run. */
  rows: string;
  /** The chain's last seq after it. */
  lastSeq: string;
  /** SHA-256 fingerprint (hex) of the public key whose checkpoint this seal emitted; null when it signed none. */
  checkpointKey: string | null;
}
