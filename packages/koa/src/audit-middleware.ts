import { HttpAudit } from '@auditrum/core/http';
import type { Middleware } from 'koa';
import type { ApiLoggerMiddleware } from './api-logger.js';
import { assignRequestId, logAndRun, requestFacts, routeOf, userOf } from './koa-context.js';
import type { AuditOptions } from './options.js';

/**
 * requestId(), auditContext() and apiLogger() in one middleware, with one set of options:
 *
 * ```ts
 * app.use(auditMiddleware()); // DATABASE_URL, actor from ctx.state.user
 * app.use(auditMiddleware({ pool, getActor: (ctx) => ctx.state.user && { id: ctx.state.user.id } }));
 * ```
 */
export function auditMiddleware(options?: AuditOptions): ApiLoggerMiddleware {
  const audit = new HttpAudit(options, 'auditMiddleware', { context: true, log: true }, userOf);
  const middleware: Middleware = function auditrum(ctx, next) {
    const facts = requestFacts(ctx, assignRequestId(audit, ctx));
    return audit.runInContext(
      ctx,
      facts,
      { actor: () => audit.options.getActor(ctx), route: () => routeOf(ctx) },
      (scope) => logAndRun(audit, ctx, facts, scope, next),
    );
  };
  return Object.assign(middleware, { close: () => audit.close(), stats: () => audit.stats() });
}
