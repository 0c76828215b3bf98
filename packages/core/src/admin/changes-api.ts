import type { ChangeRow } from '../changes/change-row.js';
import { CHANGE_COLUMNS } from '../changes/change-row.js';
import type { ApiContext } from './api-context.js';
import type { ApiRequestSummary, Change, ChangeResponse, ChangesResponse } from './api-types.js';
import { searchPage, unindexedFilters } from './bounded-search.js';
import type { ChangeCriteria } from './change-filters.js';
import { changeConditions, resolveChangeCriteria, scopeConditions, searchConditions } from './change-filters.js';
import { toChanges } from './change-rows.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { badParameter, notFound } from './errors.js';
import type { LogMonth } from './month-walk.js';
import { logMonths, newestByMonth } from './month-walk.js';
import type { QueryParams } from './query-params.js';
import { findRequestSummary } from './requests-api.js';
import { SqlParams, whereClause } from './sql-builder.js';

const BIGINT_ID = /^\d{1,19}$/;

/** `GET api/changes`: newest first, keyset-paginated on id. */
export async function listChanges(api: ApiContext, params: QueryParams): Promise<ChangesResponse> {
  const criteria = await resolveChangeCriteria(api, params);
  const limit = params.limit();
  const cursor = params.text('cursor', 64);
  const before = cursor === undefined ? undefined : decodeCursor('changes', cursor);
  const tested = await unindexedFilters(api, criteria);
  if (tested.length > 0) {
    // A search in values without the trigram index, a column, or a source without its index: the log is read in
    // bounded batches; a page may come back short (or empty), with a cursor to go on and the time it searched back
    // to, when its budget of rows ran out first.
    const { rows, resumeAfter, searchedTo } = await searchPage(api, criteria, tested, limit, before);
    return {
      items: await toChanges(api, rows),
      nextCursor: resumeAfter === null ? null : encodeCursor('changes', resumeAfter),
      ...(searchedTo === null ? {} : { searchedTo }),
    };
  }
  const conditions = (sql: SqlParams) => {
    const all = changeConditions(criteria, sql);
    if (criteria.q !== undefined) all.push(...searchConditions(criteria.q, sql));
    if (before !== undefined) all.push(`c.id < ${sql.add(before)}::bigint`);
    return all;
  };
  const months = walksThePrimaryKey(criteria) ? await logMonths(api) : null;
  const rows =
    months === null
      ? await newest(api, conditions, limit + 1)
      : await newestByMonth(api, monthsWithin(months, criteria), conditions, limit + 1);
  const items = await toChanges(api, rows.slice(0, limit));
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor('changes', last.id) : null };
}

/**
 * Whether the page is read by walking the primary key backwards (no filter, operation, a busy table, times): then it
 * is read a month at a time (month-walk.ts). The filters with an index of their own (actor, request, key,
 * transaction, TRUNCATE and DDL) find a month without matches at once, and a page of a few matches would take a
 * query per month.
 */
function walksThePrimaryKey(criteria: ChangeCriteria): boolean {
  return (
    criteria.actors.length === 0 &&
    criteria.request === undefined &&
    criteria.key === undefined &&
    criteria.txid === undefined &&
    criteria.operation !== 'TRUNCATE' &&
    criteria.operation !== 'DDL'
  );
}

/** The months that can hold changes between the criteria's `from` and `to` (the bounds compared to the millisecond). */
function monthsWithin(months: readonly LogMonth[], criteria: ChangeCriteria): LogMonth[] {
  const from = milliseconds(criteria.from);
  const to = milliseconds(criteria.to);
  return months.filter(
    (month) =>
      (from === undefined || Date.parse(month.upper) >= from) && (to === undefined || Date.parse(month.lower) <= to),
  );
}

/** An instant parameter's milliseconds; undefined without one, or when JavaScript cannot read it (no month is left out). */
function milliseconds(instant: string | undefined): number | undefined {
  const ms = instant === undefined ? Number.NaN : Date.parse(instant);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The newest `count` changes that match the conditions, in one query. */
async function newest(api: ApiContext, conditions: (sql: SqlParams) => string[], count: number): Promise<ChangeRow[]> {
  const sql = new SqlParams();
  const { rows } = await api.pool.query<ChangeRow>(
    `SELECT ${CHANGE_COLUMNS} FROM ${api.schemaSql}.changes c WHERE ${whereClause(conditions(sql))}
     ORDER BY c.id DESC LIMIT ${sql.add(count)}`,
    sql.values,
  );
  return rows;
}

/** `GET api/changes/:id`, with the API call it belongs to. */
export async function getChange(api: ApiContext, id: string): Promise<ChangeResponse> {
  if (!BIGINT_ID.test(id) || BigInt(id) > 9223372036854775807n)
    throw badParameter('id', 'must be a change id (digits)');
  const change = await findChange(api, id);
  if (!change) throw notFound(`change ${id} not found`);
  let request: ApiRequestSummary | null = null;
  if (change.requestId !== null) request = await findRequestSummary(api, change.requestId);
  return { change, request };
}

async function findChange(api: ApiContext, id: string): Promise<Change | undefined> {
  const sql = new SqlParams();
  const conditions = [`c.id = ${sql.add(id)}::bigint`, ...scopeConditions(api, sql)];
  const { rows } = await api.pool.query<ChangeRow>(
    `SELECT ${CHANGE_COLUMNS} FROM ${api.schemaSql}.changes c WHERE ${whereClause(conditions)}`,
    sql.values,
  );
  return (await toChanges(api, rows))[0];
}
