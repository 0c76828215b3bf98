import type { LoggedChange, LoggedValue } from './logged-change.js';
import type { PlanStep } from './plan-step.js';
import type { RestoreTable } from './restore-table.js';
import { keyObject } from './restore-table.js';
import type { FieldChange, Unrestorable, UnrestorableReason } from './restore-types.js';
import { deleteSql, insertSql, updateSql } from './statement-sql.js';

/** A change's reversal: the statement that undoes it (none when nothing of it can be), and what it cannot put back. */
export interface Reversal {
  step: PlanStep | undefined;
  unrestorable: Unrestorable[];
}

const EXPLAINED: Record<UnrestorableReason, string> = {
  truncate: 'a TRUNCATE records no rows, so there is nothing to put back',
  masked: 'its value was recorded masked (a keyed hash or a marker), not the value itself',
  erased: 'its value was erased on request (auditrum erase): the log no longer holds it',
  'erased-key': "its row's key was erased on request (auditrum erase): the log no longer says which row it was",
  oversized: "its value was over the table's size limit: only its size and SHA-256 were recorded",
  excluded: "the table's only/exclude rules left it out of the recorded values",
  generated: 'a generated column: the database computes it from the other columns',
  identity: 'an identity column GENERATED ALWAYS can only be updated to its default',
  dropped: 'the column was dropped since',
  'added-since': 'the column did not exist then: it gets its default',
  unknown: 'its value was not recorded',
  'unknown-existence': 'the row may have been inserted or deleted while the table was not tracked',
};

// Blocking: the value is lost, writing the rest would leave the row half-restored. The others lose nothing.
const BLOCKING: Record<UnrestorableReason, boolean> = {
  truncate: true,
  masked: true,
  erased: true,
  'erased-key': true,
  oversized: true,
  excluded: true,
  generated: false,
  identity: true,
  dropped: false,
  'added-since': false,
  unknown: true,
  'unknown-existence': true,
};

/**
 * What undoes `change`: an UPDATE's columns back to their old values; an INSERT's row deleted; a DELETE's row
 * inserted again. Columns the rules left out block a row put back whole (their values are lost); for an UPDATE's
 * revert they are only named (if the change altered them, the log does not know it).
 */
export function reversalOf(change: LoggedChange, table: RestoreTable): Reversal {
  const unrestorable: Unrestorable[] = [];
  const note = (reason: UnrestorableReason, column?: string, blocking = BLOCKING[reason]): void => {
    const where = column === undefined ? `change #${change.id}` : `column ${column} (change #${change.id})`;
    unrestorable.push({
      table: table.name,
      ...(change.rowKey === null ? {} : { rowKey: change.rowKey }),
      changeId: change.id,
      ...(column === undefined ? {} : { column }),
      reason,
      blocking,
      message: `${table.name} ${change.rowKey ?? ''}: ${where}: ${EXPLAINED[reason]}`.replace('  ', ' '),
    });
  };
  if (change.operation === 'TRUNCATE' || change.rowKey === null) {
    note('truncate');
    return { step: undefined, unrestorable };
  }
  // Another row may have the pseudonym's text as its key: nothing is written, even when forced.
  if (change.keyErased) {
    note('erased-key');
    return { step: undefined, unrestorable };
  }
  for (const stored of change.dropped) note('dropped', stored);
  const key = keyObject(table, change.rowKey);
  const base = { table, key, since: change.id };
  const statement = { table: table.name, rowKey: change.rowKey, reverts: [change.id] };

  if (change.operation === 'INSERT') {
    const diff = [...(change.newValues ?? [])].map(([column, v]): FieldChange => ({ column, from: v.value }));
    const step: PlanStep = {
      ...base,
      expects: 'exists',
      watched: null,
      statement: { ...statement, operation: 'DELETE', sql: deleteSql(table), params: [JSON.stringify(key)], diff },
    };
    return { step, unrestorable };
  }

  const isUpdate = change.operation === 'UPDATE';
  const values = new Map<string, LoggedValue>();
  for (const [column, logged] of change.oldValues ?? []) {
    const problem = writeProblem(table, column, logged, isUpdate);
    if (problem === undefined) values.set(column, logged);
    else note(problem, column);
  }
  if (isUpdate) {
    // The rules left these out: if the change altered them, the log does not know it.
    for (const column of change.notCaptured) note('excluded', column, false);
  } else {
    for (const [column, live] of table.columns) {
      if (values.has(column) || live.generated || change.oldValues?.has(column)) continue;
      if (change.notCaptured.includes(column)) note('excluded', column);
      else if (!change.columnsThen.includes(column)) note('added-since', column);
      else note('unknown', column);
    }
  }
  if (values.size === 0) return { step: undefined, unrestorable };
  const columns = [...values.keys()];
  const diff = columns.map(
    (column): FieldChange =>
      isUpdate
        ? { column, from: change.newValues?.get(column)?.value ?? null, to: values.get(column)?.value }
        : { column, to: values.get(column)?.value },
  );
  const params = [JSON.stringify(Object.fromEntries([...values].map(([column, logged]) => [column, logged.exact])))];
  // An UPDATE that changed the key gets the old key back: the row then lives under another key.
  const movedKey = columns.some((column) => table.key.includes(column))
    ? { ...key, ...Object.fromEntries(table.key.filter((c) => values.has(c)).map((c) => [c, values.get(c)?.exact])) }
    : undefined;
  const step: PlanStep = isUpdate
    ? {
        ...base,
        ...(movedKey === undefined ? {} : { movedKey }),
        expects: 'exists',
        watched: columns,
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
        watched: null,
        statement: { ...statement, operation: 'INSERT', sql: insertSql(table, columns), params, diff },
      };
  return { step, unrestorable };
}

/** Why a recorded value cannot be written to `column` now, if it cannot. */
function writeProblem(
  table: RestoreTable,
  column: string,
  logged: LoggedValue,
  isUpdate: boolean,
): UnrestorableReason | undefined {
  const live = table.columns.get(column);
  if (live === undefined) return 'dropped';
  if (live.generated) return 'generated';
  if (logged.problem !== undefined) return logged.problem;
  if (isUpdate && live.identityAlways) return 'identity';
  return undefined;
}
