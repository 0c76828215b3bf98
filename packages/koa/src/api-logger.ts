import type { ApiLogStats } from '@auditrum/core/http';
import { HttpAudit, rememberedScope } from '@auditrum/core/http';
import type { Middleware } from 'koa';
import { assignRequestId, requestFacts, routeOf, userOf } from './koa-context.js';
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
  const middleware: Middleware = async function auditrumApiLogger(ctx, next) {
    const facts = requestFacts(ctx, assignRequestId(audit, ctx));
    let failure: unknown;
    audit.log(
      ctx.req,
      ctx.res,
      ctx,
      facts,
      { route: () => routeOf(ctx), error: () => failure, parsedBody: () => (ctx.request as { body?: unknown }).body },
      rememberedScope(ctx),
    );
    try {
      await next();
    } catch (error) {
      failure = error;
      throw error;
    }
  };
  return Object.assign(middleware, { close: () => audit.close(), stats: () => audit.stats() });
}
