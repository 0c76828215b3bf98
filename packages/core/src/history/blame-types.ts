import type { UnknownReason } from './history-types.js';

/** A change as blame names it: who made it, when, in which request and transaction, and why. */
export interface BlameChange {
  /** The change's id in the log (a bigint, as text). */
  id: string;
  /** When the statement ran: ISO 8601 in UTC, with microseconds. */
  changedAt: string;
  /** The database transaction it was part of (a bigint, as text). */
  txid: string;
  operation: 'INSERT' | 'UPDATE' | 'DELETE' | 'TRUNCATE';
  actorId: string | null;
  actorLabel: string | null;
  requestId: string | null;
  /** Why: the reason the application gave (`withReason`, `setReason`). */
  reason: string | null;
  /** `http`, `job`, `cli`, `migration`, `app`, `restore` or `db` (a write without an application context). */
  source: string;
  /** The database role of a write without an application context (source `db`): who wrote, as the database knows. */
  dbUser: string | null;
  /** What a direct write from a role that is not an application role claimed in its comment: never trusted. */
  claimed: Record<string, unknown> | null;
}

/**
 * Why blame cannot say who set a field's value (the words of `UnknownReason` where they mean the same):
 * - `before_tracking`: the row was inserted (or, after a gap, written) before its recorded history starts and the
 *   field has not changed since;
 * - `excluded`: the table's rules leave the column out of the recorded values (now, or since the last recorded
 *   change, so a later change may be missing);
 * - `untracked_gap`: the table was not tracked for a while after the last recorded change, so a later change may
 *   be missing (`change` is the last one recorded);
 * - `added_later`: the column was added after the row's INSERT and has not changed since (its value came from
 *   the ALTER TABLE).
 */
export type BlameUnknownReason =
  | Extract<UnknownReason, 'excluded' | 'untracked_gap' | 'added_later'>
  | 'before_tracking';

/** Who set one field's current value: the last INSERT or UPDATE of the row that wrote it. */
export interface FieldBlame {
  /** The column's name today (a renamed column's history counts under it). */
  field: string;
  /** The last recorded change that set the field, or null when none is known. */
  change: BlameChange | null;
  /** The value before `change` as recorded (null for an INSERT); a hash or marker when `masked`. */
  oldValue: unknown;
  /** The value `change` wrote, as recorded; a hash or marker when `masked`. */
  newValue: unknown;
  /** The column's values are recorded as hashes or markers: blame shows that it changed, never the value. */
  masked: boolean;
  /** `newValue` (or `oldValue`) is an oversized marker {"$auditrum":"oversized",...}: too large to keep. */
  oversized: boolean;
  /**
   * The field's value in `change` was erased on request (`auditrum erase`): `newValue` (and `oldValue`, erased with
   * it) is null, never the erasure's marker; who set it and when (`change`) stay known.
   */
  erased: boolean;
  /** Why who set the current value is not known (null when `change` set it). */
  unknown: BlameUnknownReason | null;
}

/** Blame of one row: per field of the table today, in column order, who set its value. */
export interface RowBlame {
  /** `schema.table`. */
  table: string;
  /** The row's key as recorded (`row_key`). */
  rowKey: string;
  fields: FieldBlame[];
  /** The DELETE of the row (or TRUNCATE of the table) after its last recorded change: the row no longer exists. */
  deletedBy: BlameChange | null;
  /**
   * The table's `when` rule, if it has one: a change that did not match it was not recorded, so a field may have
   * changed since the change named for it.
   */
  when: string | null;
}
