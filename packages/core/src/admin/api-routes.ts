import { suggestActors } from './actor-suggestions.js';
import { getActor } from './actors-api.js';
import type { AdminResponse } from './admin-http.js';
import { jsonResponse } from './admin-http.js';
import type { AdminActor } from './admin-options.js';
import type { ApiContext } from './api-context.js';
import { fieldHistoryRoute, rowAsOfRoute, tableAsOfRoute } from './as-of-api.js';
import { rowBlame } from './blame-api.js';
import type { BodyParams } from './body-params.js';
import { exportChanges } from './change-export.js';
import { getChange, listChanges } from './changes-api.js';
import { rowHistory } from './history-api.js';
import { changeErasuresRoute, integrityRoute } from './integrity-api.js';
import type { QueryParams } from './query-params.js';
import { recycleBin } from './recycle-bin-api.js';
import { getRequest, listRequests } from './requests-api.js';
import { restoreRoute, revertRoute, undeleteRoute, undoRoute } from './restore-api.js';
import { exportTableAsOf } from './table-as-of-export.js';
import { listTables } from './tables-api.js';

/** What a read route is called with. */
export interface ReadCall {
  api: ApiContext;
  params: QueryParams;
  /** The path segment the route's `:name` matched, decoded; '' for a route without one. */
  segment: string;
  /** Whether this request's user may write (the admin has `authorizeWrite` and it answers `true`). */
  canWrite: () => Promise<boolean>;
}

/** What a write route is called with, once the request passed `authorizeWrite` and the cross-site check. */
export interface WriteCall {
  api: ApiContext;
  /** The JSON body's fields; the handler reads each it takes and calls `finish()` to refuse the others. */
  body: BodyParams;
  /** The admin user, the actor of the rows the write changes. */
  actor: AdminActor;
}

/** One route of the JSON API below `api/`: `GET` (and HEAD) reads, `POST` writes. */
export type ApiRoute =
  | { method: 'GET'; path: string; handle: (call: ReadCall) => Promise<AdminResponse> }
  | { method: 'POST'; path: string; handle: (call: WriteCall) => Promise<AdminResponse> };

/**
 * The JSON API, as data: a path is segments separated by `/`, `:name` matching any one segment. The first route
 * whose path matches is taken, so a literal path is listed before a `:name` one beside it.
 */
export const API_ROUTES: readonly ApiRoute[] = [
  {
    method: 'GET',
    path: 'tables',
    handle: async ({ api, canWrite }) => json(await listTables(api, canWrite)),
  },
  { method: 'GET', path: 'changes', handle: async ({ api, params }) => json(await listChanges(api, params)) },
  { method: 'GET', path: 'changes/export', handle: ({ api, params }) => exportChanges(api, params) },
  { method: 'GET', path: 'changes/:id', handle: async ({ api, segment }) => json(await getChange(api, segment)) },
  { method: 'GET', path: 'history', handle: async ({ api, params }) => json(await rowHistory(api, params)) },
  { method: 'GET', path: 'row-as-of', handle: async ({ api, params }) => json(await rowAsOfRoute(api, params)) },
  { method: 'GET', path: 'table-as-of', handle: async ({ api, params }) => json(await tableAsOfRoute(api, params)) },
  { method: 'GET', path: 'table-as-of/export', handle: ({ api, params }) => exportTableAsOf(api, params) },
  {
    method: 'GET',
    path: 'field-history',
    handle: async ({ api, params }) => json(await fieldHistoryRoute(api, params)),
  },
  { method: 'GET', path: 'blame', handle: async ({ api, params }) => json(await rowBlame(api, params)) },
  { method: 'GET', path: 'deleted', handle: async ({ api, params }) => json(await recycleBin(api, params)) },
  { method: 'POST', path: 'revert', handle: async (call) => json(await revertRoute(call)) },
  { method: 'POST', path: 'restore', handle: async (call) => json(await restoreRoute(call)) },
  { method: 'POST', path: 'undelete', handle: async (call) => json(await undeleteRoute(call)) },
  { method: 'POST', path: 'undo', handle: async (call) => json(await undoRoute(call)) },
  { method: 'GET', path: 'requests', handle: async ({ api, params }) => json(await listRequests(api, params)) },
  {
    method: 'GET',
    path: 'requests/:requestId',
    handle: async ({ api, segment }) => json(await getRequest(api, segment)),
  },
  { method: 'GET', path: 'actors', handle: async ({ api, params }) => json(await suggestActors(api, params)) },
  { method: 'GET', path: 'actors/:actorId', handle: async ({ api, segment }) => json(await getActor(api, segment)) },
  { method: 'GET', path: 'integrity', handle: async ({ api, params }) => json(await integrityRoute(api, params)) },
  { method: 'GET', path: 'erasures', handle: async ({ api, params }) => json(await changeErasuresRoute(api, params)) },
];

/** The route a path below `api/` names, with the segment its `:name` matched; undefined for none. */
export function findRoute(segments: readonly string[]): { route: ApiRoute; segment: string } | undefined {
  for (const route of API_ROUTES) {
    const pattern = route.path.split('/');
    if (pattern.length !== segments.length) continue;
    let segment = '';
    const matches = pattern.every((part, i) => {
      if (!part.startsWith(':')) return part === segments[i];
      segment = segments[i] as string;
      return true;
    });
    if (matches) return { route, segment };
  }
  return undefined;
}

function json(body: unknown): AdminResponse {
  return jsonResponse(200, body);
}
