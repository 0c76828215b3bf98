import type { ChangeRow } from '../changes/change-row.js';
import { CHANGE_COLUMNS } from '../changes/change-row.js';
import type { ApiContext } from './api-context.js';
import type {
  ApiRequestDetail,
  ApiRequestSummary,
  PageParams,
  RequestFilters,
  RequestResponse,
  RequestsResponse,
} from './api-types.js';
import { scopeConditions } from './change-filters.js';
import { toChanges } from './change-rows.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { AdminError, notFound } from './errors.js';
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

function toSummary(row: SummaryRow): ApiRequestSummary {
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
    actor: row.actor_id === null ? null : { id: row.actor_id, label: row.actor_label },
    ip: row.ip,
    ...(row.change_count === undefined ? {} : { changeCount: row.change_count }),
  };
}

function toDetail(row: DetailRow): ApiRequestDetail {
  return {
    ...toSummary(row),
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
  const actor = params.text('actor');
  for (const id of [actor, api.scope?.actor]) if (id !== undefined) conditions.push(`r.actor_id = ${sql.add(id)}`);
  const method = params.matching('method', METHOD, 'an HTTP method such as GET or POST');
  if (method !== undefined) conditions.push(`r.method = ${sql.add(method.toUpperCase())}`);
  const status = params.matching('status', STATUS, 'a status code (404), a class (4xx) or aborted');
  if (status?.toLowerCase() === 'aborted') conditions.push('r.aborted');
  else if (status?.toLowerCase().endsWith('xx')) {
    const floor = Number(status[0]) * 100;
    conditions.push(`r.status >= ${sql.add(floor)} AND r.status < ${sql.add(floor + 100)}`);
  } else if (status !== undefined) conditions.push(`r.status = ${sql.add(Number(status))}`);
  const path = params.text('path');
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
  const budget = cursor === undefined ? PATH_LIMITS.first : PATH_LIMITS.budget;
  const page =
    path === undefined
      ? await pageOf(api, sql, conditions, limit)
      : await pathPage(api, sql, conditions, path, limit, budget);
  const items = page.rows.slice(0, limit).map(toSummary);
  const last = items.at(-1);
  if (page.rows.length > limit && last) return { items, nextCursor: encodeCursor('requests', last.id) };
  if (page.stoppedAt === null) return { items, nextCursor: null };
  return { items, nextCursor: encodeCursor('requests', page.stoppedAt.id), searchedTo: page.stoppedAt.at };
}

/**
 * How many calls a page with a `path` prefix reads at most: the first page must answer as fast as any other list,
 * a later one ("search older") may take longer. A walk of 100,000 calls took 18–35 ms in the benchmark.
 */
export const PATH_LIMITS = { first: 20_000, budget: 200_000 };

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
 * The page for a `path` prefix: no index holds paths, so a prefix that few calls have would have the page walk the
 * whole API log. It reads at most `budget` calls that match the other filters (newest first, one query), and answers
 * with those among them whose path has the prefix, and, when the budget ran out first, where it stopped.
 */
async function pathPage(
  api: ApiContext,
  sql: SqlParams,
  conditions: string[],
  path: string,
  limit: number,
  budget: number,
): Promise<RequestsPage> {
  const { rows } = await api.pool.query<
    SummaryRow & { read_count: number; read_last_id: string | null; read_last_at: string | null }
  >(
    `WITH read AS MATERIALIZED (
       SELECT r.id, r.requested_at, r.path FROM ${api.schemaSql}.api_requests r WHERE ${whereClause(conditions)}
       ORDER BY r.id DESC LIMIT ${sql.add(budget)}
     ),
     last AS (SELECT x.id, x.requested_at FROM read x ORDER BY x.id LIMIT 1)
     SELECT (SELECT count(*)::int FROM read) AS read_count, (SELECT id::text FROM last) AS read_last_id,
       (SELECT to_char(requested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM last) AS read_last_at,
       m.*
     FROM (SELECT 1) AS one
     LEFT JOIN LATERAL (
       SELECT ${SUMMARY_COLUMNS}, r.id AS sort_id, ${changeCountSql(api, sql)}
       FROM (SELECT x.id, x.requested_at FROM read x WHERE x.path LIKE ${sql.add(`${escapeLike(path)}%`)}
             ORDER BY x.id DESC LIMIT ${sql.add(limit + 1)}) x
       JOIN ${api.schemaSql}.api_requests r ON r.id = x.id AND r.requested_at = x.requested_at
     ) m ON true
     ORDER BY m.sort_id DESC`,
    sql.values,
  );
  const first = rows[0];
  const found = rows.filter((row) => row.id !== null);
  const exhausted = (first?.read_count ?? 0) < budget || first?.read_last_id == null || first.read_last_at == null;
  return {
    rows: found,
    stoppedAt: exhausted ? null : { id: first.read_last_id as string, at: first.read_last_at as string },
  };
}

/** The latest logged call with this request id, as a summary (for a change's detail); null when none or hidden. */
export async function findRequestSummary(api: ApiContext, requestId: string): Promise<ApiRequestSummary | null> {
  if (api.scope?.requests === false) return null;
  const sql = new SqlParams();
  const conditions = [`r.request_id = ${sql.add(requestId)}`];
  if (api.scope?.actor !== undefined) conditions.push(`r.actor_id = ${sql.add(api.scope.actor)}`);
  const { rows } = await api.pool.query<SummaryRow>(
    `SELECT ${SUMMARY_COLUMNS} FROM ${api.schemaSql}.api_requests r WHERE ${whereClause(conditions)}
     ORDER BY r.id DESC LIMIT 1`,
    sql.values,
  );
  return rows[0] ? toSummary(rows[0]) : null;
}

/** `GET api/requests/:requestId`: the call and the changes it caused, oldest first. */
export async function getRequest(api: ApiContext, requestId: string): Promise<RequestResponse> {
  requireRequestLog(api);
  pathText('requestId', requestId);
  const sql = new SqlParams();
  const conditions = [`r.request_id = ${sql.add(requestId)}`];
  if (api.scope?.actor !== undefined) conditions.push(`r.actor_id = ${sql.add(api.scope.actor)}`);
  const requestQuery = api.pool.query<DetailRow>(
    `SELECT ${DETAIL_COLUMNS} FROM ${api.schemaSql}.api_requests r WHERE ${whereClause(conditions)}
     ORDER BY r.id DESC LIMIT 1`,
    sql.values,
  );
  const changeSql = new SqlParams();
  const changeWhere = whereClause([`c.request_id = ${changeSql.add(requestId)}`, ...scopeConditions(api, changeSql)]);
  const changesQuery = api.pool.query<ChangeRow>(
    `SELECT ${CHANGE_COLUMNS} FROM ${api.schemaSql}.changes c WHERE ${changeWhere}
     ORDER BY c.id LIMIT ${REQUEST_CHANGES_SHOWN}`,
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
  return {
    request: row ? { ...toDetail(row), changeCount } : null,
    changes: await toChanges(api, changeRows.rows),
    changeCount,
  };
}
