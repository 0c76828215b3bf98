import { isDatabaseUnavailable } from '../db/unavailable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import type { AdminHandler, AdminRequest, AdminResponse } from './admin-http.js';
import { jsonResponse } from './admin-http.js';
import type { AdminOptions, AdminScope, AuthorizeResult } from './admin-options.js';
import { checkActor, checkScope, resolveAdminOptions } from './admin-options.js';
import type { ApiContext } from './api-context.js';
import type { ApiRoute } from './api-routes.js';
import { findRoute } from './api-routes.js';
import type { AdminErrorBody } from './api-types.js';
import { BodyParams } from './body-params.js';
import { AdminError, notFound } from './errors.js';
import { QueryParams } from './query-params.js';
import { refusedPage, wantsRefusedPage } from './refused-page.js';
import { assertJsonBodyHeaders, readJsonBody } from './request-body.js';
import { assertSameOrigin } from './same-origin.js';
import { TableDepartures } from './table-departures.js';
import { TableKeys } from './table-keys.js';
import { loadTables } from './tables.js';
import { TransactionBlocks } from './transaction-blocks.js';
import { UiAssets } from './ui-assets.js';

const READ_METHODS = 'GET, HEAD';

/**
 * The admin as a framework-free route table (bull-board style): the adapters translate their request into an
 * AdminRequest and write the AdminResponse back. Every request is authorized first, before any data or asset;
 * then `api/*` is the JSON API (API_ROUTES), `assets/*` the UI's files, and any other path index.html
 * (client-side routes are deep-linkable). The options are validated here, once, so mounting fails on a mistake.
 *
 * Writes (`POST` routes) exist only when the admin was given `authorizeWrite`; each is checked, in this order,
 * before its body is read or the database touched: same-origin (same-origin.ts), a JSON content type,
 * `authorizeWrite`, the actor.
 */
export function createAdminRoutes<Req>(options: AdminOptions<Req>): AdminHandler<Req> {
  const resolved = resolveAdminOptions(options);
  const schemaSql = quoteIdentifier(resolved.schema);
  const assets = new UiAssets(resolved.assetsDir);
  const transactionBlocks = new TransactionBlocks(resolved.pool, schemaSql);
  const tableDepartures = new TableDepartures(resolved.pool, schemaSql);
  const tableKeys = new TableKeys(resolved.pool, schemaSql);

  async function apiContext(scope: AdminScope | undefined): Promise<ApiContext> {
    const tables = await loadTables(resolved.pool, schemaSql);
    return {
      pool: resolved.pool,
      schema: resolved.schema,
      schemaSql,
      tables,
      tablesById: new Map(tables.map((t) => [t.id, t])),
      scope,
      transactionBlocks,
      tableDepartures,
      tableKeys,
    };
  }

  async function apiRoute(request: AdminRequest<Req>, scope: AdminScope | undefined, segments: string[]) {
    const match = findRoute(segments);
    if (!match) throw notFound(`no API route ${segments.join('/')}`);
    const { route, segment } = match;
    if (route.method === 'GET') {
      if (!isRead(request.method)) throw methodNotAllowed(request.method, READ_METHODS, false);
      const canWrite = async () =>
        resolved.write !== undefined && (await resolved.write.authorize(request.raw)) === true;
      return route.handle({ api: await apiContext(scope), params: new QueryParams(request.query), segment, canWrite });
    }
    return writeRoute(route, request, scope);
  }

  async function writeRoute(
    route: Extract<ApiRoute, { method: 'POST' }>,
    request: AdminRequest<Req>,
    scope: AdminScope | undefined,
  ) {
    const { write } = resolved;
    // On a read-only admin the write routes do not exist (a POST to one was refused with every other write).
    if (!write) throw notFound(`no API route ${route.path}`);
    if (request.method !== 'POST') throw methodNotAllowed(request.method, 'POST', false);
    assertSameOrigin(request.headers);
    assertJsonBodyHeaders(request.headers);
    decide(await write.authorize(request.raw), WRITE_REFUSALS);
    const actor = checkActor(await write.actor(request.raw));
    const body = new BodyParams(await readJsonBody(request));
    return route.handle({ api: await apiContext(scope), body, actor });
  }

  async function answer(request: AdminRequest<Req>): Promise<AdminResponse> {
    try {
      decide(await resolved.authorize(request.raw), READ_REFUSALS);
      if (!isRead(request.method) && !resolved.write) throw methodNotAllowed(request.method, READ_METHODS, true);
      const segments = pathSegments(request.path);
      if (segments[0] === 'api') {
        return await apiRoute(request, checkScope(await resolved.scope?.(request.raw)), segments.slice(1));
      }
      if (!isRead(request.method)) throw methodNotAllowed(request.method, READ_METHODS, false);
      if (segments[0] === 'assets') return await assets.asset(segments.slice(1), acceptsGzip(request.headers));
      const scope = checkScope(await resolved.scope?.(request.raw));
      return await assets.index(request.basePath, {
        apiLog: scope?.requests !== false,
        ...(resolved.loginUrl === undefined ? {} : { loginUrl: resolved.loginUrl }),
        ...(resolved.traceUrl === undefined ? {} : { traceUrl: resolved.traceUrl }),
      });
    } catch (error) {
      if (error instanceof AdminError) {
        if ((error.status === 401 || error.status === 403) && wantsRefusedPage(request, isApiPath(request.path))) {
          const query = request.query.toString();
          const returnTo = `${request.basePath}/${request.path.replace(/^\/+/, '')}${query ? `?${query}` : ''}`;
          return refusedPage(error.status, error.message, resolved.loginUrl, returnTo);
        }
        return errorResponse(error);
      }
      resolved.onError(error);
      if (isDatabaseUnavailable(error)) return errorResponse(DATABASE_UNAVAILABLE);
      return jsonResponse(500, { error: { code: 'internal', message: 'internal error' } } satisfies AdminErrorBody);
    }
  }

  return async (request) => {
    const response = await answer(request);
    if (request.method !== 'HEAD' || typeof response.body === 'string' || Buffer.isBuffer(response.body)) {
      return response;
    }
    // A HEAD of an export: the adapters send no body, so the stream is closed here, which gives back the connection
    // its first line was read on (a failure there is the host's to hear; the answer stands).
    await response.body[Symbol.asyncIterator]()
      .return?.(undefined)
      .catch((error: unknown) => resolved.onError(error));
    return { ...response, body: '' };
  };
}

/** The database down or the connection cut: the same request may succeed in a moment, so the client may retry. */
const DATABASE_UNAVAILABLE = new AdminError(
  'unavailable',
  'the audit log’s database cannot be reached at the moment; try again shortly',
  undefined,
  { headers: { 'retry-after': '5' } },
);

const READ_REFUSALS = { unauthorized: 'log in to see the audit log', forbidden: 'you may not see the audit log' };
const WRITE_REFUSALS = {
  unauthorized: 'log in to change data through the audit admin',
  forbidden: 'you may not change data through the audit admin',
};

/** `authorize` and `authorizeWrite` alike: only `true` lets a request through (a truthy user object denies). */
function decide(decision: AuthorizeResult, messages: typeof READ_REFUSALS): void {
  if (decision === 'unauthenticated') throw new AdminError('unauthorized', messages.unauthorized);
  if (decision !== true) throw new AdminError('forbidden', messages.forbidden);
}

/** Whether a path below the base is the JSON API's (scripts get JSON errors there, never a page). */
function isApiPath(path: string): boolean {
  return /^\/*api(\/|$|\?)/.test(path);
}

function isRead(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

/** A 405 with the methods the route takes in `Allow`. */
function methodNotAllowed(method: string, allow: string, readOnly: boolean): AdminError {
  const why = readOnly ? 'the admin is read-only (mounted without authorizeWrite)' : `this route takes ${allow}`;
  return new AdminError('method_not_allowed', `${why}: ${method} is not allowed`, undefined, { headers: { allow } });
}

function errorResponse(error: AdminError): AdminResponse {
  const response = jsonResponse(error.status, error.body);
  return { ...response, headers: { ...response.headers, ...error.headers } };
}

/** Whether the client takes gzip (`Accept-Encoding: gzip`, not refused with `;q=0`). */
function acceptsGzip(headers: AdminRequest['headers']): boolean {
  const raw = headers['accept-encoding'];
  const value = (Array.isArray(raw) ? raw.join(',') : (raw ?? '')) as string;
  return value.split(',').some((part) => {
    const [coding = '', ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return (coding === 'gzip' || coding === '*') && (q === undefined || Number(q.slice(2)) > 0);
  });
}

/** The percent-decoded segments of a path below the base; a malformed escape is a 404, not a crash. */
function pathSegments(path: string): string[] {
  const trimmed = path.replace(/^\/+/, '').replace(/[?#].*$/s, '');
  if (trimmed === '') return [];
  // A trailing slash names the same route.
  const parts = trimmed.replace(/\/+$/, '').split('/');
  return parts.map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      throw notFound('malformed path');
    }
  });
}
