import { parseTransactionName } from '../../changes/transaction-name.js';
import type { Queryable } from '../../db/queryable.js';
import { quoteIdentifier } from '../../schema/identifiers.js';
import type { RowKeyInput } from '../history-types.js';
import type { LoggedChange } from './logged-change.js';
import { loggedChanges } from './logged-change.js';
import type { PlanStep, StepPlan } from './plan-step.js';
import { RestoreError } from './restore-error.js';
import { assertChangeOfRow, changeIdOf, idText, recordedRowKey, rowKeyOfObject } from './restore-input.js';
import type { RestoreTable } from './restore-table.js';
import { tableByName, tablesById } from './restore-table.js';
import type { RestoreOperation, RestoreOptions, RestoreResult, Unrestorable } from './restore-types.js';
import { reversalOf } from './reversal.js';
import { planAndRun } from './run-plan.js';

/** A row named by its table and key. */
export interface RowTarget {
  table: string;
  key: RowKeyInput;
}

/** Options of revert: with `table` and `key`, the change must be of that row (else nothing is changed). */
export interface RevertOptions extends RestoreOptions {
  table?: string;
  key?: RowKeyInput;
}

/** A request's id, or a transaction's: its txid, or `txid@n` for one restored from another cluster (docs/history.md). */
export type UndoTarget = { requestId: string } | { txid: string | number | bigint };

/** The plan that reverses `changes` (newest first), each change by its own statement. */
export async function reversalPlan(
  db: Queryable,
  schema: string,
  operation: RestoreOperation,
  changes: readonly LoggedChange[],
): Promise<StepPlan> {
  const tables = await tablesById(db, schema, [...new Set(changes.map((change) => change.tableId))]);
  const steps: PlanStep[] = [];
  const unrestorable: Unrestorable[] = [];
  for (const change of [...changes].reverse()) {
    // tablesById has every table asked for, or threw.
    const reversal = reversalOf(change, tables.get(change.tableId) as RestoreTable);
    const step = reversal.step;
    if (step?.movedKey !== undefined) {
      step.movedRowKey = await rowKeyOfObject(db, schema, step.table, step.movedKey);
    }
    if (step !== undefined) steps.push(step);
    unrestorable.push(...reversal.unrestorable);
  }
  return { operation, steps, unrestorable, reversed: changes.map((change) => change.id) };
}

/**
 * Reverts one change: an UPDATE's columns back to their old values, an INSERT's row deleted, a DELETE's row
 * inserted again.
 */
export async function revert(
  db: Queryable,
  schema: string,
  changeId: unknown,
  options: RevertOptions = {},
): Promise<RestoreResult> {
  const id = changeIdOf(changeId);
  if ((options.table === undefined) !== (options.key === undefined)) {
    throw new RestoreError(
      'invalid',
      'give both the table and the key of the row the change must belong to, or neither',
    );
  }
  return planAndRun(
    db,
    schema,
    async (client) => {
      const [change] = await loggedChanges(client, schema, { ids: [id] });
      if (change === undefined) throw new RestoreError('invalid', `there is no change #${id}`);
      if (options.table !== undefined && options.key !== undefined) {
        await checkChangeOfRow(client, schema, change, { table: options.table, key: options.key });
      }
      return reversalPlan(client, schema, 'revert', [change]);
    },
    options,
  );
}

// The original's revert took a change and a row and never checked that one belonged to the other.
async function checkChangeOfRow(db: Queryable, schema: string, change: LoggedChange, row: RowTarget): Promise<void> {
  const table = await tableByName(db, schema, row.table);
  assertChangeOfRow(change, table, await recordedRowKey(db, schema, table, row.key));
}

/** Brings back a deleted row: reverts the latest change of the row, which must be its DELETE. */
export async function undelete(
  db: Queryable,
  schema: string,
  target: RowTarget,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  return planAndRun(
    db,
    schema,
    async (client) => {
      const table = await tableByName(client, schema, target?.table);
      const rowKey = await recordedRowKey(client, schema, table, target.key);
      const { rows } = await client.query<{ id: string; operation: string }>(
        `SELECT c.id::text AS id, c.operation FROM ${quoteIdentifier(schema)}.changes c
         WHERE c.table_id = $1 AND c.row_key = $2 ORDER BY c.id DESC LIMIT 1`,
        [table.id, rowKey],
      );
      const latest = rows[0];
      if (latest === undefined)
        throw new RestoreError('invalid', `no change of row ${rowKey} of ${table.name} is recorded`);
      if (latest.operation !== 'DELETE') {
        throw new RestoreError(
          'invalid',
          `row ${rowKey} of ${table.name} is not deleted: its latest change, #${latest.id}, is an ${latest.operation}`,
        );
      }
      const changes = await loggedChanges(client, schema, { ids: [latest.id] });
      return reversalPlan(client, schema, 'undelete', changes);
    },
    options,
  );
}

/** Reverses every row change of a request or a transaction, newest first, all or nothing. */
export async function undo(
  db: Queryable,
  schema: string,
  target: UndoTarget,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const filter = undoFilter(target);
  return planAndRun(
    db,
    schema,
    async (client) => {
      const changes = await loggedChanges(client, schema, filter);
      if (changes.length === 0) {
        const what =
          'requestId' in filter ? `request ${JSON.stringify(filter.requestId)}` : `transaction ${filter.txid}`;
        throw new RestoreError('invalid', `no change of ${what} is recorded`);
      }
      return reversalPlan(client, schema, 'undo', changes);
    },
    options,
  );
}

/** A transaction's name as undo takes it: a txid (digits, a number, a bigint) or `txid@n` (transaction-name.ts). */
function transactionNameOf(value: unknown): string {
  const text = idText(value);
  if (typeof text !== 'string' || parseTransactionName(text.trim()) === undefined) {
    throw new RestoreError(
      'invalid',
      `the transaction id ${JSON.stringify(String(value))} is not one (digits, or digits@boundary for a restored one)`,
    );
  }
  return text.trim();
}

function undoFilter(target: UndoTarget): { requestId: string } | { txid: string } {
  const given = (target ?? {}) as Partial<{ requestId: unknown; txid: unknown }>;
  if ((given.requestId === undefined) === (given.txid === undefined)) {
    throw new RestoreError('invalid', 'give either a request id or a transaction id (txid) to undo');
  }
  if (given.txid !== undefined) return { txid: transactionNameOf(given.txid) };
  if (typeof given.requestId !== 'string' || given.requestId.trim() === '') {
    throw new RestoreError('invalid', 'the request id to undo must be a non-empty string');
  }
  return { requestId: given.requestId };
}
