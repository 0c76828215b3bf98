import { quoteIdentifier } from '../schema/identifiers.js';
import { getActor } from './actors-api.js';
import type { AdminHandler, AdminRequest, AdminResponse } from './admin-http.js';
import { jsonResponse, withCommonHeaders } from './admin-http.js';
import type { AdminOptions, ResolvedAdminOptions } from './admin-options.js';
import { checkScope, resolveAdminOptions } from './admin-options.js';
import type { ApiContext } from './api-context.js';
import type { AdminErrorBody, ExportFormat, TablesResponse } from './api-types.js';
import { exportedChanges, exportFile } from './change-export.js';
import { parseChangeCriteria, visibleTables } from './change-filters.js';
import { getChange, listChanges } from './changes-api.js';
import { AdminError, badParameter, notFound } from './errors.js';
import { rowHistory } from './history-api.js';
import { QueryParams } from './query-params.js';
import { getRequest, listRequests } from './requests-api.js';
import { loadTables } from './tables.js';
import { UiAssets } from './ui-assets.js';

const EXPORT_FORMATS: readonly ExportFormat[] = ['csv', 'ndjson'];

/**
 * The admin as a framework-free route table (bull-board style): the adapters translate their request into an
 * AdminRequest and write the AdminResponse back. Every request is authorized first, before any data or asset;
 * then `api/*` is the read-only JSON API, `assets/*` the UI's files, and any other path index.html (client-side
 * routes are deep-linkable). The options are validated here, once, so mounting fails on a mistake.
 */
export function createAdminRoutes<Req>(options: AdminOptions<Req>): AdminHandler<Req> {
  const resolved = resolveAdminOptions(options);
  const schemaSql = quoteIdentifier(resolved.schema);
  const assets = new UiAssets(resolved.assetsDir);

  return async (request) => {
    try {
      await authorize(resolved, request);
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        const error = new AdminError('method_not_allowed', `the admin is read-only: ${request.method} is not allowed`);
        const response = errorResponse(error);
        return { ...response, headers: { ...response.headers, allow: 'GET, HEAD' } };
      }
      const segments = pathSegments(request.path);
      if (segments[0] === 'assets') return await assets.asset(segments.slice(1), acceptsGzip(request.headers));
      const scope = checkScope(await resolved.scope?.(request.raw));
      if (segments[0] === 'api') {
        const tables = await loadTables(resolved.pool, schemaSql);
        const api: ApiContext = {
          pool: resolved.pool,
          schemaSql,
          tables,
          tablesById: new Map(tables.map((table) => [table.id, table])),
          scope,
        };
        return await apiRoute(api, segments.slice(1), new QueryParams(request.query));
      }
      return await assets.index(request.basePath, scope?.requests !== false);
    } catch (error) {
      if (error instanceof AdminError) return errorResponse(error);
      resolved.onError(error);
      return jsonResponse(500, { error: { code: 'internal', message: 'internal error' } } satisfies AdminErrorBody);
    }
  };
}

async function authorize<Req>(options: ResolvedAdminOptions<Req>, request: AdminRequest<Req>): Promise<void> {
  const decision = await options.authorize(request.raw);
  if (decision === 'unauthenticated') throw new AdminError('unauthorized', 'log in to see the audit log');
  // Only `true` lets a request through: a truthy user object returned by mistake denies.
  if (decision !== true) throw new AdminError('forbidden', 'you may not see the audit log');
}

async function apiRoute(api: ApiContext, route: string[], params: QueryParams): Promise<AdminResponse> {
  const [resource, id, ...rest] = route;
  if (rest.length === 0) {
    if (resource === 'tables' && id === undefined) {
      return jsonResponse(200, { tables: visibleTables(api.tables, api.scope) } satisfies TablesResponse);
    }
    if (resource === 'changes' && id === undefined) return jsonResponse(200, await listChanges(api, params));
    if (resource === 'changes' && id === 'export') return exportChanges(api, params);
    if (resource === 'changes' && id !== undefined) return jsonResponse(200, await getChange(api, id));
    if (resource === 'history' && id === undefined) return jsonResponse(200, await rowHistory(api, params));
    if (resource === 'requests' && id === undefined) return jsonResponse(200, await listRequests(api, params));
    if (resource === 'requests' && id !== undefined) return jsonResponse(200, await getRequest(api, id));
    if (resource === 'actors' && id !== undefined) return jsonResponse(200, await getActor(api, id));
  }
  throw notFound(`no API route ${route.join('/')}`);
}

/** The filtered changes as a streamed attachment; the first batch is read before answering, so errors are still a 500. */
async function exportChanges(api: ApiContext, params: QueryParams): Promise<AdminResponse> {
  const format = params.oneOf('format', EXPORT_FORMATS);
  if (format === undefined) throw badParameter('format', `is required: ${EXPORT_FORMATS.join(' or ')}`);
  const criteria = parseChangeCriteria(params, api.tables, api.scope);
  const lines = exportFile(exportedChanges(api, criteria), format)[Symbol.asyncIterator]();
  const first = await lines.next();
  async function* body(): AsyncGenerator<string> {
    try {
      if (first.done) return;
      yield first.value;
      for (let next = await lines.next(); !next.done; next = await lines.next()) yield next.value;
    } finally {
      // A consumer that stops early (the client went away) closes the keyset loop too.
      await lines.return?.(undefined);
    }
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    status: 200,
    headers: withCommonHeaders({
      'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
      'content-disposition': `attachment; filename="auditrum-changes-${stamp}.${format}"`,
      'cache-control': 'no-store',
    }),
    body: body(),
  };
}

function errorResponse(error: AdminError): AdminResponse {
  return jsonResponse(error.status, error.body);
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
