import type { Queryable } from '../../db/queryable.js';
import { quoteIdentifier } from '../../schema/identifiers.js';
import type { PlanStep, StepPlan } from './plan-step.js';
import type { ConflictKind, RestoreConflict } from './restore-types.js';
import { existingRowsSql } from './statement-sql.js';

interface LaterChange {
  i: number;
  /** bigint: pg gives it as text. */
  id: string;
  operation: 'INSERT' | 'UPDATE' | 'DELETE' | 'TRUNCATE';
  columns: string[] | null;
}

const LATER: Record<LaterChange['operation'], ConflictKind> = {
  UPDATE: 'changed-since',
  INSERT: 'inserted-since',
  DELETE: 'deleted-since',
  TRUNCATE: 'truncated-since',
};

/**
 * What stands in the way of a plan: the live rows that must exist and do not, or must not and do (`lock`: the
 * existing ones are locked FOR UPDATE, so nothing changes them until the restore commits), then the later changes
 * of the same rows that the plan does not reverse. Run after the lock, in the restore's transaction, the second
 * check sees every change committed before the rows were locked: checking and writing are one atomic step.
 */
export async function findConflicts(
  db: Queryable,
  schema: string,
  plan: StepPlan,
  options: { lock: boolean },
): Promise<RestoreConflict[]> {
  const live = await liveConflicts(db, plan.steps, options.lock);
  return [...live, ...(await logConflicts(db, schema, plan))];
}

/**
 * The first step on each key decides what the live row must be now, unless an earlier step of the plan already
 * decided it (a key change puts a row under another key): the later ones follow from the plan itself.
 */
async function liveConflicts(db: Queryable, steps: readonly PlanStep[], lock: boolean): Promise<RestoreConflict[]> {
  const decided = new Set<string>();
  const byTable = new Map<number, PlanStep[]>();
  for (const step of steps) {
    const id = `${step.table.id}:${step.statement.rowKey}`;
    if (!decided.has(id)) {
      // Appended in place: a copy of the list per step made a plan of 100,000 steps take 52 s (an import's undo).
      const tableSteps = byTable.get(step.table.id);
      if (tableSteps === undefined) byTable.set(step.table.id, [step]);
      else tableSteps.push(step);
    }
    decided.add(id);
    if (step.movedRowKey !== undefined) decided.add(`${step.table.id}:${step.movedRowKey}`);
  }
  const conflicts: RestoreConflict[] = [];
  // Tables in name order, rows in key order: every restore takes its locks in the same order.
  const tables = [...byTable.values()].sort((a, b) => (a[0]?.table.name ?? '').localeCompare(b[0]?.table.name ?? ''));
  for (const tableSteps of tables) {
    const table = tableSteps[0]?.table;
    if (table === undefined) continue;
    const { rows } = await db.query<{ i: number }>(existingRowsSql(table, lock), [
      JSON.stringify(tableSteps.map((step) => step.key)),
    ]);
    const existing = new Set(rows.map((row) => row.i - 1));
    tableSteps.forEach((step, i) => {
      const exists = existing.has(i);
      if (exists === (step.expects === 'exists')) return;
      const { rowKey, reverts } = step.statement;
      conflicts.push({
        kind: exists ? 'row-exists' : 'row-missing',
        table: table.name,
        rowKey,
        reverts: reverts[0] ?? '',
        forcible: false,
        message: exists
          ? `${table.name} ${rowKey}: a row with this key exists now, so it cannot be inserted back (restore it to a time instead)`
          : `${table.name} ${rowKey}: the row does not exist now (deleted, or its key changed), so there is nothing to ${step.statement.operation === 'DELETE' ? 'delete' : 'update'}`,
      });
    });
  }
  return conflicts;
}

async function logConflicts(db: Queryable, schema: string, plan: StepPlan): Promise<RestoreConflict[]> {
  if (plan.steps.length === 0) return [];
  const audit = quoteIdentifier(schema);
  const steps = plan.steps.map((step, i) => ({
    i,
    table_id: step.table.id,
    row_key: step.statement.rowKey,
    since: step.since,
  }));
  // Later changes of each row (and TRUNCATEs of its table, the only changes without a key) that the plan does
  // not itself reverse, with the columns they changed under today's names.
  const { rows } = await db.query<LaterChange>(
    `WITH s AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS s(i int, table_id int, row_key text, since bigint))
     SELECT s.i, l.id, l.operation,
       ARRAY(SELECT coalesce(n.current_name, k.name) FROM jsonb_object_keys(coalesce(l.new_values, '{}')) AS k(name)
         LEFT JOIN ${audit}.column_names n ON n.table_id = l.table_id AND n.stored_name = k.name
           AND n.after_change_id < l.id AND l.id <= n.until_change_id
         WHERE k.name <> '') AS columns
     FROM s JOIN ${audit}.changes l ON l.table_id = s.table_id AND l.row_key = s.row_key AND l.id > s.since
     WHERE l.id <> ALL ($2::bigint[])
     UNION ALL
     SELECT s.i, l.id, l.operation, NULL
     FROM s JOIN ${audit}.changes l ON l.table_id = s.table_id AND l.row_key IS NULL AND l.id > s.since
       -- DDL rows (untrack, a capture repair) have no key either, and change no row.
       AND l.operation = 'TRUNCATE'
     WHERE l.id <> ALL ($2::bigint[])
     ORDER BY 1, 2`,
    [JSON.stringify(steps), plan.reversed],
  );
  const conflicts: RestoreConflict[] = [];
  const seen = new Set<string>();
  for (const later of rows) {
    const step = plan.steps[later.i];
    if (step === undefined) continue;
    const { rowKey, reverts } = step.statement;
    // A later change of the row is named once, even when it is in the way of several of the plan's statements.
    const id = `${step.table.id}:${rowKey}:${later.id}`;
    // A row that must be absent is not harmed by a TRUNCATE.
    if (seen.has(id) || (later.operation === 'TRUNCATE' && step.expects === 'absent')) continue;
    const columns =
      later.operation === 'UPDATE'
        ? (later.columns ?? []).filter((column) => step.watched === null || step.watched.includes(column))
        : undefined;
    if (columns !== undefined && columns.length === 0) continue;
    seen.add(id);
    const kind = LATER[later.operation];
    const what = columns === undefined ? kind.replace('-since', '') : `changed ${columns.join(', ')}`;
    conflicts.push({
      kind,
      table: step.table.name,
      rowKey,
      reverts: reverts[0] ?? '',
      changeId: later.id,
      ...(columns === undefined ? {} : { columns }),
      forcible: true,
      message: `${step.table.name} ${rowKey}: change #${later.id} (later than #${reverts[0]}) ${what}`,
    });
  }
  return conflicts;
}
