import type { Queryable } from '../../db/queryable.js';
import { quoteIdentifier } from '../../schema/identifiers.js';
import type { UnknownReason } from '../history-types.js';
import type { InstantInput } from '../instant.js';
import { parseInstant } from '../instant.js';
import { loggedChanges } from './logged-change.js';
import type { RowTarget } from './operations.js';
import type { PlanStep, StepPlan } from './plan-step.js';
import { RestoreError } from './restore-error.js';
import { assertChangeOfRow, changeIdOf, recordedRowKey, refuseKeyPseudonym } from './restore-input.js';
import type { RestoreTable } from './restore-table.js';
import { keyObject, tableByName } from './restore-table.js';
import type {
  ChangeId,
  FieldChange,
  RestoreOptions,
  RestoreResult,
  Unrestorable,
  UnrestorableReason,
} from './restore-types.js';
import type { HistoryPosition } from './row-state-at.js';
import { positionBounds, rowStateAt } from './row-state-at.js';
import { planAndRun } from './run-plan.js';
import { deleteSql, insertSql, updateSql } from './statement-sql.js';

/** A row and the point of its history to put it back to: a time (with its zone), or just before one of its changes. */
export interface RestoreTarget extends RowTarget {
  at?: InstantInput;
  beforeChange?: ChangeId | number | bigint;
}

const REASONS: Record<UnknownReason, UnrestorableReason> = {
  excluded: 'excluded',
  masked: 'masked',
  oversized: 'oversized',
  added_later: 'added-since',
  untracked_gap: 'unknown',
  before_tracking: 'unknown',
  not_recorded: 'unknown',
  erased: 'erased',
};

const EXPLAINED: Record<UnknownReason, string> = {
  excluded: "the table's only/exclude rules left it out of the recorded values",
  masked: 'its value was recorded masked (a keyed hash or a marker)',
  oversized: "its value was over the table's size limit: only its size and SHA-256 were recorded",
  added_later: 'the column did not exist then: it keeps its value (or gets its default)',
  untracked_gap: 'the table was not tracked for a while after then: the column may have changed unseen',
  before_tracking: 'the time is before the table was tracked: its values then were never recorded',
  not_recorded: 'the history holds no value for it',
  erased: 'its value was erased on request (auditrum erase): the log no longer holds it',
};

/**
 * Puts a row back to its state at a time (or just before one of its changes): the columns that differ are set,
 * a row that did not exist then is deleted, a row that existed then and is gone is inserted. The changes of the
 * row after that point are the ones the restore reverses.
 */
export async function restoreRow(
  db: Queryable,
  schema: string,
  target: RestoreTarget,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const given = target ?? ({} as RestoreTarget);
  if ((given.at === undefined) === (given.beforeChange === undefined)) {
    throw new RestoreError(
      'invalid',
      'give either the time to restore the row to (at) or the change to restore it to before',
    );
  }
  let position: HistoryPosition;
  try {
    position =
      given.at !== undefined ? { at: parseInstant(given.at) } : { beforeChange: changeIdOf(given.beforeChange) };
  } catch (error) {
    if (error instanceof RestoreError) throw error;
    throw new RestoreError('invalid', (error as Error).message.replace(/^auditrum: /, ''));
  }
  return planAndRun(db, schema, (client) => restorePlan(client, schema, given, position), options);
}

async function restorePlan(
  db: Queryable,
  schema: string,
  target: RestoreTarget,
  position: HistoryPosition,
): Promise<StepPlan> {
  const table = await tableByName(db, schema, target.table);
  const rowKey = await recordedRowKey(db, schema, table, target.key);
  await refuseKeyPseudonym(db, schema, table, rowKey);
  if (position !== 'now' && 'beforeChange' in position)
    await checkChangeOfRow(db, schema, table, rowKey, position.beforeChange);
  await refuseMovedAway(db, schema, table, rowKey, position);
  const then = await rowStateAt(db, schema, table, rowKey, position);
  const now = await rowStateAt(db, schema, table, rowKey, 'now');
  const later = await changesAfter(db, schema, table, rowKey, position);
  const plan: StepPlan = { operation: 'restore', steps: [], unrestorable: [], reversed: later.map((c) => c.id) };
  // Whether it existed then is not known: refused unless forced, which takes the row as last recorded.
  if (then.exists === null) {
    plan.unrestorable.push({
      table: table.name,
      rowKey,
      reason: 'unknown-existence',
      blocking: true,
      message: `${table.name} ${rowKey}: the row may have been inserted or deleted while the table was not tracked: whether it existed then is not known`,
    });
  }
  const existed = then.exists !== false;
  if (!existed && !now.exists) return plan;
  const key = keyObject(table, rowKey);
  const statement = { table: table.name, rowKey, reverts: plan.reversed };
  // Changes after the plan was made are conflicts: the row must still be as the plan found it.
  const base = { table, key, since: later.at(-1)?.id ?? then.lastChangeId ?? '0', watched: null };
  if (!existed) {
    const diff = [...table.columns.keys()]
      .filter((column) => column in now.values)
      .map((column): FieldChange => ({ column, from: now.values[column] }));
    plan.steps.push({
      ...base,
      expects: 'exists',
      statement: { ...statement, operation: 'DELETE', sql: deleteSql(table), params: [JSON.stringify(key)], diff },
    });
    return plan;
  }
  // A column not known then blocks only if a later change may have changed it (an INSERT or DELETE: all).
  const touched = new Set<string>();
  let touchedAll = !now.exists;
  for (const change of later) {
    if (change.operation !== 'UPDATE') touchedAll = true;
    for (const column of change.newValues?.keys() ?? []) touched.add(column);
  }
  for (const { column, reason } of then.unknown) {
    const live = table.columns.get(column);
    if (live === undefined || live.generated) continue;
    if (!touchedAll && !touched.has(column) && reason !== 'added_later') continue;
    if (reason === 'added_later' && now.exists) continue;
    plan.unrestorable.push(unknownItem(table, rowKey, column, reason));
  }
  const values = new Map<string, unknown>();
  const diff: FieldChange[] = [];
  // In the table's column order.
  for (const [column, live] of table.columns) {
    if (!(column in then.values)) continue;
    const value = then.values[column];
    const from = now.values[column];
    const exact = then.exact[column];
    if (now.exists && column in now.exact && JSON.stringify(now.exact[column]) === JSON.stringify(exact)) continue;
    if (live.generated) {
      plan.unrestorable.push(
        item(table, rowKey, column, 'generated', false, 'a generated column: the database computes it'),
      );
      continue;
    }
    if (now.exists && live.identityAlways) {
      plan.unrestorable.push(
        item(
          table,
          rowKey,
          column,
          'identity',
          true,
          'an identity column GENERATED ALWAYS can only be updated to its default',
        ),
      );
      continue;
    }
    values.set(column, exact);
    diff.push(now.exists ? { column, ...(column in now.values ? { from } : {}), to: value } : { column, to: value });
  }
  if (values.size === 0) return plan;
  const columns = [...values.keys()];
  const params = [JSON.stringify(Object.fromEntries(values))];
  const step: PlanStep = now.exists
    ? {
        ...base,
        expects: 'exists',
        statement: {
          ...statement,
          operation: 'UPDATE',
          sql: updateSql(table, columns),
          params: [...params, JSON.stringify(key)],
          diff,
        },
      }
    : {
        ...base,
        expects: 'absent',
        statement: { ...statement, operation: 'INSERT', sql: insertSql(table, columns), params, diff },
      };
  plan.steps.push(step);
  return plan;
}

function item(
  table: RestoreTable,
  rowKey: string,
  column: string,
  reason: UnrestorableReason,
  blocking: boolean,
  why: string,
): Unrestorable {
  return {
    table: table.name,
    rowKey,
    column,
    reason,
    blocking,
    message: `${table.name} ${rowKey}: column ${column}: ${why}`,
  };
}

function unknownItem(table: RestoreTable, rowKey: string, column: string, reason: UnknownReason): Unrestorable {
  return item(table, rowKey, column, REASONS[reason], reason !== 'added_later', EXPLAINED[reason]);
}

/** The changes of the row after the position, oldest first: what the restore reverses. */
async function changesAfter(
  db: Queryable,
  schema: string,
  table: RestoreTable,
  rowKey: string,
  position: HistoryPosition,
) {
  const [at, before] = positionBounds(position);
  const { rows } = await db.query<{ id: string }>(
    `SELECT c.id::text AS id FROM ${quoteIdentifier(schema)}.changes c
     WHERE c.table_id = $1 AND c.row_key = $2 AND NOT (c.changed_at <= $3::timestamptz AND c.id < $4::bigint)
     ORDER BY c.id`,
    [table.id, rowKey, at, before],
  );
  return loggedChanges(db, schema, { ids: rows.map((row) => row.id) });
}

async function checkChangeOfRow(
  db: Queryable,
  schema: string,
  table: RestoreTable,
  rowKey: string,
  id: ChangeId,
): Promise<void> {
  const [change] = await loggedChanges(db, schema, { ids: [id] });
  if (change === undefined) throw new RestoreError('invalid', `there is no change #${id}`);
  assertChangeOfRow(change, table, rowKey);
}

/** A row whose key changed after the position lives under another key now: restoring its old key would copy it. */
async function refuseMovedAway(
  db: Queryable,
  schema: string,
  table: RestoreTable,
  rowKey: string,
  position: HistoryPosition,
): Promise<void> {
  const audit = quoteIdentifier(schema);
  const [at, before] = positionBounds(position);
  const { rows } = await db.query<{ id: string; new_key: string }>(
    `SELECT m->>'id' AS id, c.row_key AS new_key
     FROM ${audit}.tracked_tables t,
       jsonb_array_elements(${audit}._history_moves(t, ARRAY[$2::text], ${audit}._history_key_names(t), 'infinity', 9223372036854775807)) m
       JOIN ${audit}.changes c ON c.id = (m->>'id')::bigint AND c.table_id = $1
     WHERE t.id = $1 AND NOT (c.changed_at <= $3::timestamptz AND c.id < $4::bigint)
     ORDER BY c.id DESC LIMIT 1`,
    [table.id, rowKey, at, before],
  );
  const moved = rows[0];
  if (moved !== undefined) {
    throw new RestoreError(
      'invalid',
      `row ${rowKey} of ${table.name} got the key ${moved.new_key} by change #${moved.id} since then: restore it under that key (or revert #${moved.id})`,
    );
  }
}
