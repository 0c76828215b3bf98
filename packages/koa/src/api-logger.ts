import type { ApiLogStats } from '@auditrum/core/http';
import { HttpAudit, rememberedScope } from '@auditrum/core/http';
import type { Middleware } from 'koa';
import { assignRequestId, logAndRun, requestFacts, userOf } from './koa-context.js';
import type { AuditOptions } from './options.js';

/** A middleware that writes the API log, with `close()` to flush it at shutdown. */
export type ApiLoggerMiddleware = Middleware & {
  /** Writes the rows still queued and stops logging; call it on shutdown, after the server stopped accepting. */
  close(): Promise<void>;
  stats(): ApiLogStats;
};

/**
 * Writes one row per request to the API log (`auditrum.api_requests`), off the request path. Install it after
 * your error handler and before the body parser and routes: it sees errors thrown below it on their way up.
 */
export function apiLogger(options?: AuditOptions): ApiLoggerMiddleware {
  const audit = new HttpAudit(options, 'apiLogger', { context: false, log: true }, userOf);
  const middleware: Middleware = function auditrumApiLogger(ctx, next) {
    return logAndRun(audit, ctx, requestFacts(ctx, assignRequestId(audit, ctx)), rememberedScope(ctx), next);
  };
  return Object.assign(middleware, { close: () => audit.close(), stats: () => audit.stats() });
}
