import type { RestoreTable } from './restore-table.js';
import type { ChangeId, PlannedStatement, RestoreOperation, Unrestorable } from './restore-types.js';

/** A planned statement with what running it needs: the row it expects, and what later changes conflict with it. */
export interface PlanStep {
  statement: PlannedStatement;
  table: RestoreTable;
  /** The key (today's column names) of the row the statement writes. */
  key: Record<string, unknown>;
  /** Whether that row must exist before the statement (UPDATE, DELETE) or must not (INSERT). */
  expects: 'exists' | 'absent';
  /** For an UPDATE that sets key columns: the row's key afterwards (today's column names). */
  movedKey?: Record<string, unknown>;
  /** The same as the log records it (row_key), set by the plan builder. */
  movedRowKey?: string;
  /** Later changes of these columns (of any column: null) that the plan does not reverse are conflicts. */
  watched: string[] | null;
  /** Later changes of the row are those with a higher id. */
  since: ChangeId;
}

/** What an operation plans before anything is checked against the live tables. */
export interface StepPlan {
  operation: RestoreOperation;
  /** In the order they run. */
  steps: PlanStep[];
  unrestorable: Unrestorable[];
  /** Every change the plan reverses: later changes among them are no conflict. */
  reversed: ChangeId[];
}
