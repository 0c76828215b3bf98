/**
 * The shapes history is read and returned in: a row's key as a user gives it, and a row's state as of a time.
 * Values are always under today's column names; a value that cannot be known is listed in `unknown`, never guessed.
 */

/** One key column's value, as a user writes it (read as the column's type: '7', 7 and "007" name the same int). */
export type KeyValue = string | number | boolean | bigint;

/**
 * A row's key: its value for a one-column key, the values in key order for any key, or an object by (today's)
 * key column names.
 */
export type RowKeyInput = KeyValue | readonly KeyValue[] | Readonly<Record<string, KeyValue>>;

/**
 * Why a column's value as of a time is not known:
 * - `excluded`: the table's only/exclude rules left the column out of the recorded values in the period that
 *   matters, so a change to it may not have been recorded;
 * - `masked`: its values were recorded as a hash or a marker;
 * - `oversized`: its value was over the size limit and only its size and hash were kept;
 * - `added_later`: the column was added to the table after the row's last recorded full image (its value then
 *   was never recorded) or after the time asked for (it did not exist);
 * - `untracked_gap`: the table was not tracked for a while between the recorded value and the time asked for,
 *   so the column may have changed unseen;
 * - `before_tracking`: the time asked for is before the table was first tracked: the row is known to have existed
 *   when tracking began, its values before that were never recorded;
 * - `not_recorded`: the history holds no value for it (e.g. a state recorded before Auditrum kept column names).
 */
export type UnknownReason =
  | 'excluded'
  | 'masked'
  | 'oversized'
  | 'added_later'
  | 'untracked_gap'
  | 'before_tracking'
  | 'not_recorded'
  /** Replaced by an erasure (`auditrum erase`): the value is gone from the log for good. */
  | 'erased';

export const UNKNOWN_REASONS: readonly UnknownReason[] = [
  'excluded',
  'masked',
  'oversized',
  'added_later',
  'untracked_gap',
  'before_tracking',
  'not_recorded',
  'erased',
];

/** A column whose value is not known, and why. */
export interface UnknownValue {
  /** Today's name of the column. */
  column: string;
  reason: UnknownReason;
}

/**
 * Where a row's state was rebuilt from: `forward` from a recorded full image (an INSERT) and the UPDATEs after it,
 * `backward` from a later full image (a DELETE's old values, or the live row) undoing the UPDATEs in between (the
 * row existed before tracking), `live` when nothing changed it since (the live row is its state), `none` when it
 * did not exist.
 */
export type RebuiltFrom = 'forward' | 'backward' | 'live' | 'none';

/** One row as of a time. */
export interface RowState {
  /**
   * Whether the row existed at that time (under this key); null when that is not known: the time is within a period
   * when the table was not tracked, after the row's last recorded change, and the row may have been deleted unseen
   * then (it is absent now, or its key was inserted again, with no recorded change proving it was still there).
   * Such a row is given as last recorded, its values unknown.
   */
  exists: boolean | null;
  /** The row's key as the log records it (`row_key`): the value as text, or a JSON array for several columns. */
  rowKey: string;
  /** Its known values, by today's column names, as JSON (what `to_jsonb` gives for the column's type). */
  values: Record<string, unknown>;
  /** Today's columns whose value at that time is not known, with the reason. */
  unknown: UnknownValue[];
  /** The last recorded change of the row at or before that time (a bigint, as a string), if any. */
  lastChangeId: string | null;
  /** When that change happened. */
  lastChangedAt: Date | null;
  rebuiltFrom: RebuiltFrom;
}

/**
 * One row of a whole table as of a time: the rows that existed then (`exists: true`) and those that may have
 * (`exists: null`, see RowState); rows that did not exist are not listed.
 */
export type TableRowState = Omit<RowState, 'exists'> & { exists: true | null };

/** One recorded value of a field. */
export interface FieldHistoryEntry {
  /** The change that set it (a bigint, as a string). */
  changeId: string;
  changedAt: Date;
  operation: 'INSERT' | 'UPDATE' | 'DELETE';
  /** The value after the change (null after a DELETE, which ends the row). */
  value: unknown;
  /** The value before the change, when recorded (an UPDATE's or DELETE's old value). */
  oldValue: unknown;
  /** Set when the value after the change is not known (masked, oversized); `value` is then null. */
  unknown: UnknownReason | null;
  /** The row key the change is recorded under (differs from the key asked for when the key changed). */
  rowKey: string;
  actorId: string | null;
  requestId: string | null;
  /** Why, when the change carried a reason. */
  reason: string | null;
}
