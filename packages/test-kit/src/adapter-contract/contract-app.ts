import type { RequestListener } from 'node:http';
import type pg from 'pg';

/**
 * What each adapter's test builds for the battery: one small app, the same in every framework.
 *
 * Middleware, in this order:
 * 1. (Koa) the host's error handler: on error, status `err.status ?? 500` and JSON
 *    `{"error": <err.message if err.expose, else "internal">}`; (Express) the same as the last middleware,
 *    which also sets `res.err = err`.
 * 2. A stand-in for pino-http: if the header `x-test-preset-id` is present, `presetRequestId()` of its value becomes
 *    the request id field pino-http sets (`req.id` in Express, `ctx.req.id` in Koa), before the audit middleware runs.
 * 3. `auditMiddleware(audit)` when `audit` is given, or `requestId(audit)`, `auditContext(audit)` and
 *    `apiLogger(audit)` one after the other when `parts` is set; none at all for the bare app.
 * 4. Fake auth: first `SELECT 1` on the pool (a session lookup, before the user is known), then, if the header
 *    `x-test-user` is `id|email`, the user `{ id, email }` as passport would set it (`req.user`, `ctx.state.user`).
 * 5. Body parsers: JSON (limit 1 MB) and url-encoded forms.
 *
 * Routes (handlers change table `items (id int primary key, name text, note text)`):
 * - `GET /items/:id` → 200 `{id, name}`.
 * - `PUT /items/:id` with JSON `{name}` (the id is the number the segment starts with: `/items/7;token=x` is 7)
 *   → sets the change reason from `x-test-reason` if present (setChangeReason),
 *   `UPDATE items SET name = $1 WHERE id = $2`, sets `Set-Cookie: session=abc; HttpOnly`, → 200
 *   `{id, name, requestId: <the framework's request id>, token: "response-secret"}`.
 * - `PUT /items/:id/slow` → the same UPDATE, then waits 300 ms, then 200 `{id}` (for aborted requests).
 * - `POST /items/:id/fail` → the same UPDATE with name `failing`, then throws `Error("boom: handler failed")`.
 * - `GET /query-keys` → 200 `{keys: <the names of the framework's parsed query (req.query, ctx.query,
 *   request.query), in order>}`: how it splits a query string, without echoing a value.
 * - `POST /echo` → 200 `{"type": <typeof body, or "array">, "keys": <number of keys of an object body, else 0>}`.
 * - `POST /upload` → reads the raw request stream itself, → 200 `{bytes}`.
 * - `POST /items/:id/events` → listens to Node's own request and response (`req`, `ctx.req`, `request.raw` and
 *   theirs): on the response's `finish`, `UPDATE items SET note = 'finished' WHERE id = $1`; reads the request body
 *   as text with `data` listeners and on `end` runs `UPDATE items SET name = <the text> WHERE id = $1`, → 200 `{id}`.
 * - `POST /binary` → 200, `application/octet-stream`, the bytes 0..255.
 * - `GET /audit-admin/ping` → 200 `{ok: true}`.
 * - `GET /redirect` → 302 with `Location: /next;jsessionid=S3SS10N?token=abc&page=2#access_token=t0k3n`.
 */
/** The id pino-http would set for the header's value: a number from its default counter, a genReqId's string as is. */
export function presetRequestId(value: string): string | number {
  return /^\d+$/.test(value) ? Number(value) : value;
}

export interface ContractAppOptions {
  /** The app's pool (max 2 connections), on the test database. */
  pool: pg.Pool;
  /** Options for `auditMiddleware()`; undefined for the bare app. */
  audit: Record<string, unknown> | undefined;
  /** The framework's trust-proxy setting. */
  trustProxy: boolean;
  /** Install the three middlewares apart instead of auditMiddleware(). */
  parts?: boolean;
}

export interface ContractApp {
  listener: RequestListener;
  /** Closes the middleware (flushes its API log); nothing for the bare app. Safe to call twice. */
  close(): Promise<void>;
  /** The middleware's API-log counts (zeros for the bare app). */
  stats(): { queued: number; written: number; dropped: number; failed: number };
}

export interface AdapterUnderTest {
  /** e.g. `Express 5`. */
  name: string;
  createApp(options: ContractAppOptions): ContractApp;
}
