import { parseTransactionName } from '../changes/transaction-name.js';
import type { Queryable } from '../db/queryable.js';
import { loggedChanges } from '../history/restore/logged-change.js';
import { reversalPlan, revert, undelete, undo } from '../history/restore/operations.js';
import type { StepPlan } from '../history/restore/plan-step.js';
import { restoreRow } from '../history/restore/restore-row.js';
import type { RestoreOptions } from '../history/restore/restore-types.js';
import { planAndRun } from '../history/restore/run-plan.js';
import type { ApiContext } from './api-context.js';
import type { WriteCall } from './api-routes.js';
import type { WriteResponse } from './api-types.js';
import type { BodyParams } from './body-params.js';
import { scopeConditions, visibleTables } from './change-filters.js';
import { AdminError, badParameter, notFound } from './errors.js';
import { assertWholeRows, historyTable, liveTableName, parseRowKey } from './history-params.js';
import { INSTANT_REFUSED, parseInstant } from './query-params.js';
import { restoreFailure } from './restore-errors.js';
import { SqlParams, whereClause } from './sql-builder.js';

const BIGINT_ID = /^\d{1,19}$/;
const BIGINT_MAX = 9223372036854775807n;

/**
 * The write routes: each reads its target from the body, checks it against the user's scope, and calls the
 * history function with the admin user as actor; the function plans, checks conflicts and writes in one
 * transaction, recorded with source `restore`, the reason and the ids it reverses.
 */

/** `POST api/revert { change, table?, key?, reason, dryRun?, force? }` */
export async function revertRoute({ api, body, actor }: WriteCall): Promise<WriteResponse> {
  assertWholeRows(api);
  const change = changeId(body, 'change');
  const tableName = body.text('table', 300);
  const row =
    tableName === undefined
      ? undefined
      : { table: await liveTableName(api, historyTable(api, tableName)), key: parseRowKey(body.value('key')) };
  if (row === undefined && body.value('key') !== undefined) throw badParameter('key', 'is given without table');
  const options = writeOptions(body, actor);
  // A change of a table outside the scope is as unknown as a change that does not exist.
  const sql = new SqlParams();
  const visible = await api.pool.query(
    `SELECT 1 FROM ${api.schemaSql}.changes c WHERE ${whereClause([`c.id = ${sql.add(change)}::bigint`, ...scopeConditions(api, sql)])}`,
    sql.values,
  );
  if (visible.rowCount === 0) throw notFound(`change ${change} not found`);
  return run(() => revert(api.pool, api.schema, change, { ...options, ...row }), 'change');
}

/** `POST api/restore { table, key, at | beforeChange, reason, dryRun?, force? }` */
export async function restoreRoute({ api, body, actor }: WriteCall): Promise<WriteResponse> {
  const table = historyTable(api, body.required('table', 300));
  const key = parseRowKey(body.value('key') ?? missing('key'));
  const atText = body.text('at', 64);
  const at = atText === undefined ? undefined : parseInstant(atText);
  if (atText !== undefined && at === undefined) throw badParameter('at', INSTANT_REFUSED);
  const beforeChange = body.value('beforeChange') === undefined ? undefined : changeId(body, 'beforeChange');
  if ((at === undefined) === (beforeChange === undefined)) {
    throw badParameter('at', 'give one of at (a time with its zone) or beforeChange (a change id of the row)');
  }
  const options = writeOptions(body, actor);
  const position = at === undefined ? { beforeChange: beforeChange as string } : { at };
  const target = { table: await liveTableName(api, table), key, ...position };
  return run(() => restoreRow(api.pool, api.schema, target, options), at === undefined ? 'beforeChange' : 'at');
}

/** `POST api/undelete { table, key, reason, dryRun?, force? }` */
export async function undeleteRoute({ api, body, actor }: WriteCall): Promise<WriteResponse> {
  const table = historyTable(api, body.required('table', 300));
  const key = parseRowKey(body.value('key') ?? missing('key'));
  const options = writeOptions(body, actor);
  const target = { table: await liveTableName(api, table), key };
  return run(() => undelete(api.pool, api.schema, target, options), 'key');
}

/** `POST api/undo { request | txid, reason, dryRun?, force? }` */
export async function undoRoute({ api, body, actor }: WriteCall): Promise<WriteResponse> {
  assertWholeRows(api);
  const request = body.text('request');
  const txid = body.value('txid') === undefined ? undefined : transactionName(body);
  if ((request === undefined) === (txid === undefined)) {
    throw badParameter('request', 'give one of request (a request id) or txid (a transaction id)');
  }
  const options = writeOptions(body, actor);
  const parameter = request === undefined ? 'txid' : 'request';
  const target = request === undefined ? { txid: txid as string } : { requestId: request };
  if (api.scope?.tables === undefined) return run(() => undo(api.pool, api.schema, target, options), parameter);
  return run(() => planAndRun(api.pool, api.schema, (db) => scopedUndoPlan(api, db, target), options), parameter);
}

/**
 * undo's plan for a user whose scope narrows tables: the changes it reverses are checked against the scope in the
 * plan's own transaction, as they are read, so that a change the request or transaction gains meanwhile cannot slip
 * in. One that changed a table outside the scope cannot be undone by this user (403); one with no visible change is
 * not found (404), as for any other user.
 */
async function scopedUndoPlan(
  api: ApiContext,
  db: Queryable,
  filter: { requestId: string } | { txid: string },
): Promise<StepPlan> {
  const changes = await loggedChanges(db, api.schema, filter);
  const visible = new Set(visibleTables(api.tables, api.scope).map((table) => table.id));
  if (!changes.some((change) => visible.has(change.tableId))) {
    throw notFound(
      `no change of ${'txid' in filter ? `transaction ${filter.txid}` : `request ${filter.requestId}`} found`,
    );
  }
  if (changes.some((change) => !visible.has(change.tableId))) {
    throw new AdminError(
      'forbidden',
      'this request or transaction changed tables outside your scope: you may not undo it',
    );
  }
  return reversalPlan(db, api.schema, 'undo', changes);
}

/** reason, dryRun and force, and the admin user as actor; the body's other fields are refused from here on. */
function writeOptions(body: BodyParams, actor: WriteCall['actor']): RestoreOptions {
  const reason = body.text('reason');
  const dryRun = body.flag('dryRun');
  const force = body.flag('force');
  body.finish();
  if (reason === undefined && !dryRun) {
    throw badParameter('reason', 'is required: say why (it is recorded with every write of the restore)');
  }
  return { actor, dryRun, force, ...(reason === undefined ? {} : { reason }) };
}

function changeId(body: BodyParams, name: string): string {
  const value = body.value(name);
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== 'string' || !BIGINT_ID.test(text) || BigInt(text) > BIGINT_MAX) {
    throw badParameter(name, value === undefined ? 'is required' : 'must be an id (digits)');
  }
  return text;
}

/** The `txid` of an undo: a transaction's name (digits, or digits@boundary for a restored one: transaction-name.ts). */
function transactionName(body: BodyParams): string {
  const value = body.value('txid');
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== 'string' || parseTransactionName(text) === undefined) {
    throw badParameter('txid', 'must be a transaction id (digits, or digits@boundary for a restored one)');
  }
  return text;
}

function missing(name: string): never {
  throw badParameter(name, 'is required');
}

async function run(write: () => Promise<WriteResponse>, parameter: string): Promise<WriteResponse> {
  try {
    return await write();
  } catch (error) {
    throw restoreFailure(error, parameter);
  }
}
