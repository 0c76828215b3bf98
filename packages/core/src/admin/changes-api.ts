import type { ChangeRow } from '../changes/change-row.js';
import { changeColumns } from '../changes/change-row.js';
import type { ApiContext } from './api-context.js';
import type { ApiRequestSummary, Change, ChangeResponse, ChangesResponse } from './api-types.js';
import { searchPage, unindexedFilters } from './bounded-search.js';
import { changeConditions, resolveChangeCriteria, scopeConditions, searchConditions } from './change-filters.js';
import { toChanges } from './change-rows.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { badParameter, notFound } from './errors.js';
import { monthsToWalk, newestChanges } from './month-walk.js';
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
    const all = changeConditions(criteria, sql, api.schemaSql);
    if (criteria.q !== undefined) all.push(...searchConditions(criteria.q, sql));
    if (before !== undefined) all.push(`c.id < ${sql.add(before)}::bigint`);
    return all;
  };
  const rows = await newestChanges(api, criteria, await monthsToWalk(api, criteria), conditions, limit + 1);
  const items = await toChanges(api, rows.slice(0, limit));
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor('changes', last.id) : null };
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
    `SELECT ${changeColumns(api.schemaSql)} FROM ${api.schemaSql}.changes c WHERE ${whereClause(conditions)}`,
    sql.values,
  );
  return (await toChanges(api, rows))[0];
}
