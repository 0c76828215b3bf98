import type pg from 'pg';
import type { Queryable } from '../../db/queryable.js';
import { inTransaction } from '../../db/queryable.js';
import { quoteIdentifier } from '../../schema/identifiers.js';
import { connectionTrust, untrustedRoleAdvice } from '../../tracking/application-roles.js';
import { findConflicts } from './conflicts.js';
import type { StepPlan } from './plan-step.js';
import type { RestoreContext } from './restore-context.js';
import { restoreContext, statementComment } from './restore-context.js';
import { conflictError, RestoreError, unrestorableError } from './restore-error.js';
import type { RestoreConflict, RestoreOptions, RestorePlan, RestoreResult } from './restore-types.js';

/** Builds an operation's plan from the change log; on a dry run, with the live rows read but not locked. */
export type PlanBuilder = (db: Queryable) => Promise<StepPlan>;

function publicPlan(plan: StepPlan, conflicts: RestoreConflict[]): RestorePlan {
  return {
    operation: plan.operation,
    statements: plan.steps.map((step) => step.statement),
    conflicts,
    unrestorable: plan.unrestorable,
  };
}

/**
 * Plans and (unless a dry run) runs an operation in one transaction: plan, lock the rows it writes, check for
 * conflicts against the log, refuse unless forced, then each statement with its own context (reason, actor,
 * source restore and the ids it reverses). A failure of any statement rolls everything back.
 */
export async function planAndRun(
  db: Queryable,
  schema: string,
  build: PlanBuilder,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  if (options.dryRun === true) {
    const plan = await build(db);
    return {
      plan: publicPlan(plan, await findConflicts(db, schema, plan, { lock: false })),
      applied: false,
      changeIds: [],
    };
  }
  // Checked before anything is read, so that bad options cost nothing.
  restoreContext(options.reason, options.actor, []);
  return inTransaction(db, async (client) => {
    const trust = await connectionTrust(client, schema);
    if (!trust.trusted) {
      throw new RestoreError(
        'untrusted',
        `the context of database role ${trust.role} is not trusted, so the restore would be recorded without its reason and actor; ${untrustedRoleAdvice(trust.role)}`,
      );
    }
    const plan = await build(client);
    const untracked = plan.steps.find((step) => !step.table.tracking);
    if (untracked !== undefined) {
      throw new RestoreError(
        'invalid',
        `table ${untracked.table.name} is not tracked now: a restore of it would not be recorded`,
      );
    }
    const conflicts = await findConflicts(client, schema, plan, { lock: true });
    const view = publicPlan(plan, conflicts);
    const refused = conflicts.filter((conflict) => !conflict.forcible || options.force !== true);
    if (refused.length > 0) throw conflictError(view, refused);
    const blocking = plan.unrestorable.filter((item) => item.blocking);
    if (blocking.length > 0 && options.force !== true) throw unrestorableError(view, blocking);
    const overrode = [...new Set(conflicts.flatMap((conflict) => conflict.changeId ?? []))];
    const context = restoreContext(options.reason, options.actor, overrode);
    await runSteps(client, context, plan.steps);
    return {
      plan: view,
      applied: true,
      changeIds: await writtenChanges(client, schema, context),
      requestId: context.requestId,
    };
  });
}

type Step = StepPlan['steps'][number];

/** pg 8.23 and later can pipeline: queries sent without waiting for the previous one's answer. */
interface PipelinableClient extends pg.ClientBase {
  pipeline: boolean;
}

function canPipeline(client: pg.ClientBase): client is PipelinableClient {
  return typeof (client as Partial<PipelinableClient>).pipeline === 'boolean';
}

/**
 * Runs the steps in order, each its own statement (its context comment names the changes it reverses). Where the
 * client can, they are pipelined: sent together and answered in order, so that an undo of a thousand rows waits
 * for one round trip, not a thousand. The checks are the same either way: the first step that fails or does not
 * affect exactly one row fails the restore (the steps after it fail too, in the transaction it aborted, or are
 * rolled back with it).
 */
async function runSteps(client: pg.ClientBase, context: RestoreContext, steps: readonly Step[]): Promise<void> {
  if (steps.length < 2 || !canPipeline(client) || client.pipeline) {
    for (const step of steps) checkStep(step, await settled(sendStep(client, context, step)));
    return;
  }
  client.pipeline = true;
  let results: PromiseSettledResult<pg.QueryResult>[];
  try {
    results = await Promise.allSettled(steps.map((step) => sendStep(client, context, step)));
  } finally {
    client.pipeline = false;
  }
  for (const [i, step] of steps.entries()) checkStep(step, results[i] as PromiseSettledResult<pg.QueryResult>);
}

function sendStep(client: pg.ClientBase, context: RestoreContext, step: Step): Promise<pg.QueryResult> {
  const { statement } = step;
  return client.query(statementComment(context, statement.reverts) + statement.sql, statement.params);
}

async function settled<T>(promise: Promise<T>): Promise<PromiseSettledResult<T>> {
  return (await Promise.allSettled([promise]))[0] as PromiseSettledResult<T>;
}

function checkStep(step: Step, result: PromiseSettledResult<pg.QueryResult>): void {
  const { statement } = step;
  if (result.status === 'rejected') {
    const error = result.reason as { code?: string; message?: string };
    if (error?.code === '23505') {
      throw new RestoreError(
        'conflict',
        `${statement.table} ${statement.rowKey}: a row with this key exists now (${error.message}); nothing was changed`,
      );
    }
    throw result.reason;
  }
  // The rows were checked under lock; a key that is not unique, or a row inserted meanwhile by another
  // transaction, still must not make the restore write more or less than planned.
  const affected = result.value.rowCount ?? 0;
  if (affected !== 1) {
    throw new RestoreError(
      'conflict',
      `${statement.table} ${statement.rowKey}: the ${statement.operation} would affect ${affected} rows, not 1; nothing was changed`,
    );
  }
}

/** The ids of the changes this transaction's restore statements were recorded as. */
async function writtenChanges(client: pg.ClientBase, schema: string, context: RestoreContext): Promise<string[]> {
  const { rows } = await client.query<{ id: string }>(
    `SELECT c.id::text AS id FROM ${quoteIdentifier(schema)}.changes c
     WHERE c.request_id = $1 AND c.txid = txid_current() AND c.changed_at >= now() ORDER BY c.id`,
    [context.requestId],
  );
  return rows.map((row) => row.id);
}
