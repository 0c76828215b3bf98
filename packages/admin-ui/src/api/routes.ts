import type {
  ActorResponse,
  ActorsResponse,
  BlameResponse,
  ChangeErasuresResponse,
  ChangeFilters,
  ChangeResponse,
  ChangesResponse,
  DeletedRowsResponse,
  ExportFormat,
  FieldHistoryResponse,
  HistoryResponse,
  IntegrityResponse,
  PageParams,
  ReadRouteParams,
  RequestFilters,
  RequestResponse,
  RequestsResponse,
  RowAsOfResponse,
  TableAsOfResponse,
  TablesResponse,
} from '@auditrum/core/admin';
import { apiUrl } from './client.ts';
import type { ApiState } from './use-api.ts';
import { useApi } from './use-api.ts';

/** Parameters as the URL carries them: each value is text (empty or absent ones are left out). */
type AsText<T> = { [K in keyof T]?: string | null | undefined };

/**
 * The admin API's read routes, as the admin uses them: each one's parameters (the names core defines, for the
 * server's parser and this client alike: a renamed one fails the type check here) and its answer. A `:name` segment
 * of a route is filled from the parameter of that name.
 */
export interface ReadRoutes {
  tables: { params: Record<never, never>; answer: TablesResponse };
  changes: { params: AsText<ChangeFilters & PageParams>; answer: ChangesResponse };
  'changes/:id': { params: { id: string }; answer: ChangeResponse };
  history: { params: AsText<ReadRouteParams['history']>; answer: HistoryResponse };
  'row-as-of': { params: AsText<ReadRouteParams['row-as-of']>; answer: RowAsOfResponse };
  'table-as-of': { params: AsText<ReadRouteParams['table-as-of']>; answer: TableAsOfResponse };
  'field-history': { params: AsText<ReadRouteParams['field-history']>; answer: FieldHistoryResponse };
  blame: { params: AsText<ReadRouteParams['blame']>; answer: BlameResponse };
  deleted: { params: AsText<ReadRouteParams['deleted']>; answer: DeletedRowsResponse };
  actors: { params: AsText<ReadRouteParams['actors']>; answer: ActorsResponse };
  'actors/:actorId': { params: { actorId: string }; answer: ActorResponse };
  requests: { params: AsText<RequestFilters & PageParams>; answer: RequestsResponse };
  'requests/:requestId': { params: { requestId: string }; answer: RequestResponse };
  integrity: { params: AsText<ReadRouteParams['integrity']>; answer: IntegrityResponse };
  erasures: { params: AsText<ReadRouteParams['erasures']>; answer: ChangeErasuresResponse };
}

/** The download routes (links, not fetched by the admin): their parameters. */
export interface DownloadRoutes {
  'changes/export': AsText<ChangeFilters> & { format: ExportFormat };
  'table-as-of/export': AsText<ReadRouteParams['table-as-of/export']>;
}

/** The URL of a route: `:name` segments filled (encoded) from the parameters, the others as the query. */
function routeUrl(route: string, params: Record<string, string | null | undefined>): string {
  const query: Record<string, string | null | undefined> = { ...params };
  const path = route.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const value = query[name] ?? '';
    delete query[name];
    return encodeURIComponent(value);
  });
  return apiUrl(path, query);
}

/** Loads a read route whenever its parameters change; `null` parameters: nothing to load (yet). */
export function useRoute<R extends keyof ReadRoutes>(
  route: R,
  params: ReadRoutes[R]['params'] | null,
): ApiState<ReadRoutes[R]['answer']> & { retry: () => void } {
  return useApi<ReadRoutes[R]['answer']>(
    params === null ? null : routeUrl(route, params as Record<string, string | null | undefined>),
  );
}

/** The link of a download route (a streamed attachment). */
export function downloadUrl<R extends keyof DownloadRoutes>(route: R, params: DownloadRoutes[R]): string {
  return routeUrl(route, params as Record<string, string | null | undefined>);
}
