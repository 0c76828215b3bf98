import type { AdminRequestBody } from './request-body.js';

/** A request as the adapters hand it to the route table: framework-free. */
export interface AdminRequest<Req = unknown> {
  method: string;
  /** The path below the base path, percent-encoded as received, e.g. `/api/changes` or `/` (leading slash optional). */
  path: string;
  query: URLSearchParams;
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The base path the browser sees (e.g. `/audit-admin`), injected into index.html. */
  basePath: string;
  /**
   * The body, read only by a write route after its checks: the request stream, or the value the host's body
   * parser already read from it (`{ parsed }`). Adapters that serve a read-only admin may leave it out.
   */
  body?: AdminRequestBody;
  /** The framework's own request (Express `req`, Koa `ctx`), handed to `authorize` and `scope`. */
  raw: Req;
}

/** The answer, for the adapter to write as is. */
export interface AdminResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer | AsyncIterable<string | Buffer>;
}

/** The route table: one function from request to response; it never rejects. */
export type AdminHandler<Req = unknown> = (request: AdminRequest<Req>) => Promise<AdminResponse>;

const COMMON_HEADERS = { 'x-content-type-options': 'nosniff' } as const;

export function jsonResponse(status: number, body: unknown): AdminResponse {
  return {
    status,
    headers: { ...COMMON_HEADERS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}

export function withCommonHeaders(headers: Record<string, string>): Record<string, string> {
  return { ...COMMON_HEADERS, ...headers };
}
