import { HttpAudit, rememberScope } from '@auditrum/core/http';
import type { Middleware } from 'koa';
import { assignRequestId, requestFacts, routeOf, userOf } from './koa-context.js';
import type { AuditOptions } from './options.js';

/**
 * Runs the rest of the request in an audit context: every change it makes carries the actor, request id,
 * method, route, path, IP and user agent. The actor and route are read at each change, so this may come before
 * the auth middleware and the router.
 */
export function auditContext(options?: AuditOptions): Middleware {
  const audit = new HttpAudit(options, 'auditContext', { context: true, log: false }, userOf);
  return function auditrumContext(ctx, next) {
    const facts = requestFacts(ctx, assignRequestId(audit, ctx));
    return audit.runInContext(
      ctx,
      facts,
      { actor: () => audit.options.getActor(ctx), route: () => routeOf(ctx) },
      (scope) => {
        rememberScope(ctx, scope);
        return next();
      },
    );
  };
}
