import type { ChangeRow } from '../changes/change-row.js';
import { erasureRequestsCondition, pseudonymErasures, requestActorConditions } from './actor-pseudonyms.js';
import type { ApiContext } from './api-context.js';
import type {
  ApiRequestDetail,
  ApiRequestSummary,
  PageParams,
  RequestFilters,
  RequestResponse,
  RequestsResponse,
} from './api-types.js';
import { erasureFilter, scopeConditions } from './change-filters.js';
import { toChanges } from './change-rows.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { AdminError, notFound } from './errors.js';
import { unindexedPage } from './month-walk.js';
import type { QueryParams } from './query-params.js';
import { assertRange, pathText } from './query-params.js';
import { escapeLike, SqlParams, whereClause } from './sql-builder.js';

/** Changes listed with one request; the changes list (request=) pages through the rest. */
export const REQUEST_CHANGES_SHOWN = 200;

const SUMMARY_COLUMNS = `r.id::text AS id, r.request_id,
  to_char(r.requested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS requested_at,
  r.method, r.path, r.route, r.status, r.duration_ms, r.aborted, r.actor_id, r.actor_label, r.ip`;
const DETAIL_COLUMNS = `${SUMMARY_COLUMNS}, r.query, r.user_agent, r.request_headers, r.response_headers,
  r.request_body, r.response_body, r.error`;

interface SummaryRow {
  id: string;
  request_id: string;
  requested_at: string;
  method: string;
  path: string;
  route: string | null;
  status: number | null;
  duration_ms: number;
  aborted: boolean;
  actor_id: string | null;
  actor_label: string | null;
  ip: string | null;
  change_count?: number;
}
interface DetailRow extends SummaryRow {
  query: Record<string, unknown> | null;
  user_agent: string | null;
  request_headers: Record<string, unknown> | null;
  response_headers: Record<string, unknown> | null;
  request_body: unknown;
  response_body: unknown;
  error: string | null;
}

/** A call as listed; `actorErasure`: the erasure whose pseudonym its actor id is (pseudonymErasures). */
function toSummary(row: SummaryRow, actorErasure?: string): ApiRequestSummary {
  return {
    id: row.id,
    requestId: row.request_id,
    requestedAt: row.requested_at,
    method: row.method,
    path: row.path,
    route: row.route,
    status: row.status,
    durationMs: row.duration_ms,
    aborted: row.aborted,
    actor:
      row.actor_id === null
        ? null
        : {
            id: row.actor_id,
            label: row.actor_label,
            ...(actorErasure === undefined ? {} : { erasure: actorErasure }),
          },
    ip: row.ip,
    ...(row.change_count === undefined ? {} : { changeCount: row.change_count }),
  };
}

function toDetail(row: DetailRow, actorErasure?: string): ApiRequestDetail {
  return {
    ...toSummary(row, actorErasure),
    query: row.query,
    userAgent: row.user_agent,
    requestHeaders: row.request_headers,
    responseHeaders: row.response_headers,
    requestBody: row.request_body,
    responseBody: row.response_body,
    error: row.error,
  };
}

function requireRequestLog(api: ApiContext): void {
  if (api.scope?.requests === false) throw new AdminError('forbidden', 'the API-request log is not in your scope');
}

/** The calls as listed, each actor id that an erasure made its pseudonym with that erasure. */
async function toSummaries(api: ApiContext, rows: readonly SummaryRow[]): Promise<ApiRequestSummary[]> {
  const pseudonyms = await pseudonymErasures(
    api,
    'api_requests',
    rows.map((row) => ({ id: row.id, text: row.actor_id })),
  );
  return rows.map((row) => toSummary(row, pseudonyms.get(row.id)));
}

/** The scope's narrowing of calls: its actor's (never an erased actor's of the same text). */
function requestScopeConditions(api: ApiContext, sql: SqlParams): string[] {
  return api.scope?.actor === undefined ? [] : requestActorConditions(api.schemaSql, api.scope.actor, sql);
}

/** The number of visible changes a request caused, as a correlated subquery on `r`. */
function changeCountSql(api: ApiContext, sql: SqlParams): string {
  const conditions = ['c.request_id = r.request_id', ...scopeConditions(api, sql)];
  return `(SELECT count(*)::int FROM ${api.schemaSql}.changes c WHERE ${conditions.join(' AND ')}) AS change_count`;
}

const METHOD = /^[A-Za-z]{1,16}$/;
const STATUS = /^(?:[1-5]\d\d|[1-5]xx|aborted)$/i;

/** `GET api/requests`: newest first, keyset-paginated on id. */
export async function listRequests(
  api: ApiContext,
  // Only the names of RequestFilters and PageParams: the UI builds its filters from the same types.
  params: QueryParams<keyof RequestFilters | keyof PageParams>,
): Promise<RequestsResponse> {
  requireRequestLog(api);
  const sql = new SqlParams();
  const conditions: string[] = [];
  // What no index serves: tested on each call the other filters give, at most a budget of them per page.
  const tested: string[] = [];
  const actor = params.text('actor');
  if (actor !== undefined) conditions.push(...requestActorConditions(api.schemaSql, actor, sql));
  conditions.push(...requestScopeConditions(api, sql));
  const erasure = erasureFilter(params);
  if (erasure !== undefined) conditions.push(erasureRequestsCondition(api.schemaSql, erasure, sql));
  const method = params.matching('method', METHOD, 'an HTTP method such as GET or POST');
  if (method !== undefined) tested.push(`r.method = ${sql.add(method.toUpperCase())}`);
  const status = params.matching('status', STATUS, 'a status code (404), a class (4xx) or aborted');
  if (status?.toLowerCase() === 'aborted') tested.push('r.aborted');
  else if (status?.toLowerCase().endsWith('xx')) {
    const floor = Number(status[0]) * 100;
    tested.push(`r.status >= ${sql.add(floor)} AND r.status < ${sql.add(floor + 100)}`);
  } else if (status !== undefined) tested.push(`r.status = ${sql.add(Number(status))}`);
  const path = params.text('path');
  if (path !== undefined) tested.push(`r.path LIKE ${sql.add(`${escapeLike(path)}%`)}`);
  const request = params.text('request');
  if (request !== undefined) conditions.push(`r.request_id = ${sql.add(request)}`);
  const from = params.instant('from');
  const to = params.instant('to');
  assertRange(from, to);
  if (from !== undefined) conditions.push(`r.requested_at >= ${sql.add(from)}::timestamptz`);
  if (to !== undefined) conditions.push(`r.requested_at < ${sql.add(to)}::timestamptz`);
  const cursor = params.text('cursor', 64);
  if (cursor !== undefined) conditions.push(`r.id < ${sql.add(decodeCursor('requests', cursor))}::bigint`);
  const limit = params.limit();
  // Through an actor's index (a heap page a call) a later page reads no more than the first (100,000 of the busiest
  // actor's calls took 0.13 s of server CPU at 1,000,000 calls).
  const actorIndexed = actor !== undefined || api.scope?.actor !== undefined;
  const budget = cursor === undefined || actorIndexed ? TESTED_LIMITS.first : TESTED_LIMITS.budget;
  const page =
    tested.length === 0
      ? await pageOf(api, sql, conditions, limit)
      : await testedPage(api, sql, conditions, tested, limit, budget);
  const items = await toSummaries(api, page.rows.slice(0, limit));
  const last = items.at(-1);
  if (page.rows.length > limit && last) return { items, nextCursor: encodeCursor('requests', last.id) };
  if (page.stoppedAt === null) return { items, nextCursor: null };
  return { items, nextCursor: encodeCursor('requests', page.stoppedAt.id), searchedTo: page.stoppedAt.at };
}

/**
 * How many calls a page filtered by what no index holds (a `path` prefix, a `method`, a `status`) reads at most: the
 * first page, a later one ("search older"). At 1,000,000 calls 20,000 took 60 ms of server CPU through the busiest
 * actor's index (a heap page each), 10,000 walking the primary key 5 ms (docs/benchmarks.md, session 10); a later
 * page's 100,000 took 98–118 ms at a load of 4 (session 12), so it reads 30,000.
 */
export const TESTED_LIMITS = { first: 10_000, budget: 30_000 };

interface RequestsPage {
  /** Up to limit + 1 calls, newest first, with their change counts. */
  rows: SummaryRow[];
  /** The oldest call read, when the page's budget of calls ran out before it was full; else null. */
  stoppedAt: { id: string; at: string } | null;
}

/** The page of calls that match `conditions`, newest first; the change counts are computed for its rows only. */
async function pageOf(api: ApiContext, sql: SqlParams, conditions: string[], limit: number): Promise<RequestsPage> {
  const { rows } = await api.pool.query<SummaryRow>(
    `SELECT r.*, ${changeCountSql(api, sql)}
     FROM (SELECT ${SUMMARY_COLUMNS} FROM ${api.schemaSql}.api_requests r WHERE ${whereClause(conditions)}
           ORDER BY r.id DESC LIMIT ${sql.add(limit + 1)}) r
     ORDER BY r.id::bigint DESC`,
    sql.values,
  );
  return { rows, stoppedAt: null };
}

/**
 * The page for filters no index holds (`tested`): a prefix, a method or a status that few calls have would have the
 * page walk the whole API log. It reads at most `budget` calls that match the other filters (newest first, one
 * query, one by one as the walk finds them: nothing is held), tests each, and stops at the page's last match; the
 * budget's last call comes out too, numbered, to say where the page stopped when the budget ran out first.
 */
async function testedPage(
  api: ApiContext,
  sql: SqlParams,
  conditions: string[],
  tested: string[],
  limit: number,
  budget: number,
): Promise<RequestsPage> {
  const test = whereClause(tested);
  const size = sql.add(budget);
  const { rows } = await api.pool.query<SummaryRow & { matched: boolean; n: string; read_at: string }>(
    `SELECT ${SUMMARY_COLUMNS}, ${changeCountSql(api, sql)}, (${test}) AS matched, r.n,
       to_char(r.requested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS read_at
     FROM (SELECT r.*, row_number() OVER (ORDER BY r.id DESC) AS n FROM ${api.schemaSql}.api_requests r
           WHERE ${whereClause(conditions)} ORDER BY r.id DESC LIMIT ${size}) r
     WHERE (${test}) OR r.n = ${size}
     ORDER BY r.id DESC LIMIT ${sql.add(limit + 1)}`,
    sql.values,
  );
  const end = rows.find((row) => Number(row.n) === budget);
  return {
    rows: rows.filter((row) => row.matched).map(({ matched: _, n: __, read_at: ___, ...row }) => row),
    stoppedAt: end === undefined ? null : { id: end.id, at: end.read_at },
  };
}

/** The latest logged call with this request id, as a summary (for a change's detail); null when none or hidden. */
export async function findRequestSummary(api: ApiContext, requestId: string): Promise<ApiRequestSummary | null> {
  if (api.scope?.requests === false) return null;
  const sql = new SqlParams();
  const conditions = [`r.request_id = ${sql.add(requestId)}`, ...requestScopeConditions(api, sql)];
  const { rows } = await api.pool.query<SummaryRow>(
    `SELECT ${SUMMARY_COLUMNS} FROM ${api.schemaSql}.api_requests r WHERE ${whereClause(conditions)}
     ORDER BY r.id DESC LIMIT 1`,
    sql.values,
  );
  return (await toSummaries(api, rows))[0] ?? null;
}

/** `GET api/requests/:requestId`: the call and the changes it caused, oldest first. */
export async function getRequest(api: ApiContext, requestId: string): Promise<RequestResponse> {
  requireRequestLog(api);
  pathText('requestId', requestId);
  const sql = new SqlParams();
  const conditions = [`r.request_id = ${sql.add(requestId)}`, ...requestScopeConditions(api, sql)];
  const requestQuery = api.pool.query<DetailRow>(
    `SELECT ${DETAIL_COLUMNS} FROM ${api.schemaSql}.api_requests r WHERE ${whereClause(conditions)}
     ORDER BY r.id DESC LIMIT 1`,
    sql.values,
  );
  const changeSql = new SqlParams();
  const changeWhere = whereClause([`c.request_id = ${changeSql.add(requestId)}`, ...scopeConditions(api, changeSql)]);
  const changesQuery = api.pool.query<ChangeRow>(
    unindexedPage(api.schemaSql, changeWhere, 'ASC', String(REQUEST_CHANGES_SHOWN)),
    changeSql.values,
  );
  const countQuery = api.pool.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM ${api.schemaSql}.changes c WHERE ${changeWhere}`,
    changeSql.values,
  );
  const [requestRows, changeRows, countRows] = await Promise.all([requestQuery, changesQuery, countQuery]);
  const changeCount = countRows.rows[0]?.count ?? 0;
  const row = requestRows.rows[0];
  if (!row && changeCount === 0) throw notFound(`request ${requestId} not found`);
  const pseudonyms = await pseudonymErasures(api, 'api_requests', row ? [{ id: row.id, text: row.actor_id }] : []);
  return {
    request: row ? { ...toDetail(row, pseudonyms.get(row.id)), changeCount } : null,
    changes: await toChanges(api, changeRows.rows),
    changeCount,
  };
}
