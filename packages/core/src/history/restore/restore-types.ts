import type { AuditActor } from '../../context/audit-context.js';

/** A change's id (a bigint, as decimal text). */
export type ChangeId = string;

/** What every restore operation accepts. */
export interface RestoreOptions {
  /**
   * Why the data is being put back: required to write (not for a dry run), stored with each write of the restore as
   * its reason.
   */
  reason?: string;
  /** Who restores; default: the actor of the current audit context. Stored as the writes' actor. */
  actor?: AuditActor;
  /** Write despite conflicts that can be overridden and values that cannot be restored (those columns stay as they are). */
  force?: boolean;
  /** Build and return the plan, write nothing. */
  dryRun?: boolean;
}

/** One column a statement writes (or, for a DELETE, removes): its value before and after, as JSON as the log holds it. */
export interface FieldChange {
  column: string;
  /** The value the log says the row has now; absent when the row does not exist. */
  from?: unknown;
  /** The value it gets; absent when the row is deleted. */
  to?: unknown;
}

/** One statement of a plan, with the changes it reverses. */
export interface PlannedStatement {
  /** The table, `schema.table` as written in SQL. */
  table: string;
  /** The row's key as the log records it (row_key). */
  rowKey: string;
  operation: 'UPDATE' | 'INSERT' | 'DELETE';
  /** The exact SQL text (sent after the context comment that carries reason, actor and `reverts`). */
  sql: string;
  /** Its parameters: JSON objects under today's column names, cast to the column types by jsonb_to_record. */
  params: string[];
  /** The ids of the changes this statement reverses (the `reverts` of the change it writes). */
  reverts: ChangeId[];
  diff: FieldChange[];
}

export type ConflictKind =
  /** A later change, not reversed by this plan, changed some of the same columns. */
  | 'changed-since'
  /** The row was deleted by a later change. */
  | 'deleted-since'
  /** The row was inserted again by a later change. */
  | 'inserted-since'
  /** The table was truncated by a later change. */
  | 'truncated-since'
  /** The row the statement writes does not exist now. */
  | 'row-missing'
  /** The row an INSERT would bring back exists now. */
  | 'row-exists';

/** Why a plan cannot run as it is. `forcible` conflicts are overridden by `force`; the others never. */
export interface RestoreConflict {
  kind: ConflictKind;
  table: string;
  rowKey: string;
  /** The change being reversed. */
  reverts: ChangeId;
  /** The later change in the way (for the `…-since` kinds). */
  changeId?: ChangeId;
  /** The columns both touch (for `changed-since`). */
  columns?: string[];
  forcible: boolean;
  message: string;
}

export type UnrestorableReason =
  /** A TRUNCATE records no rows. */
  | 'truncate'
  /** Recorded as a keyed hash or a marker. */
  | 'masked'
  /** Replaced by an erasure (`auditrum erase`): writing it back would put the marker in the table. */
  | 'erased'
  /**
   * The change's row key is the pseudonym an erasure of its key column gave: which row it was is not recorded (a real
   * row may have that key), so nothing of it is written.
   */
  | 'erased-key'
  /** Over the table's size limit when captured: only its size and SHA-256 were kept. */
  | 'oversized'
  /** Left out of the recorded values by the table's only/exclude rules. */
  | 'excluded'
  /** A generated column: the database computes it from the others (not written, nothing is lost). */
  | 'generated'
  /** An identity column GENERATED ALWAYS can only be updated to its default. */
  | 'identity'
  /** The column was dropped since: there is nowhere to put the value (nothing is lost from the table). */
  | 'dropped'
  /** The column did not exist when the values were recorded: it gets its default. */
  | 'added-since'
  /** The value is not known for another reason (an untracked period). */
  | 'unknown'
  /**
   * Whether the row existed at that point is not known: it may have been inserted or deleted while the table was not
   * tracked (a restore forced past it puts the row back as last recorded).
   */
  | 'unknown-existence';

/** A value the plan cannot put back. `blocking` ones are refused unless `force` (then the column stays as it is). */
export interface Unrestorable {
  table: string;
  rowKey?: string;
  changeId?: ChangeId;
  column?: string;
  reason: UnrestorableReason;
  blocking: boolean;
  message: string;
}

export type RestoreOperation = 'revert' | 'restore' | 'undelete' | 'undo';

/** The statements an operation would run, what stands in the way, and what it cannot put back. */
export interface RestorePlan {
  operation: RestoreOperation;
  statements: PlannedStatement[];
  conflicts: RestoreConflict[];
  unrestorable: Unrestorable[];
}

export interface RestoreResult {
  plan: RestorePlan;
  /** False for a dry run. */
  applied: boolean;
  /** The ids of the changes the restore's own writes were recorded as (empty for a dry run). */
  changeIds: ChangeId[];
  /** The request id the writes carry: undo({ requestId }) takes the restore back. */
  requestId?: string;
}
