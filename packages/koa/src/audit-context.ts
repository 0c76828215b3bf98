import { HttpAudit, rememberScope } from '@auditrum/core/http';
import type { Middleware } from 'koa';
import { assignRequestId, followRoute, followUser, requestFacts, userOf } from './koa-context.js';
import type { AuditOptions } from './options.js';

/**
 * Runs the rest of the request in an audit context: every change it makes carries the actor, request id,
 * method, route, path, IP and user agent. The actor is read when a change first needs it, and again after auth
 * sets `ctx.state.user`, so this may come before the auth middleware.
 */
export function auditContext(options?: AuditOptions): Middleware {
  const audit = new HttpAudit(options, 'auditContext', { context: true, log: false }, userOf);
  return function auditrumContext(ctx, next) {
    const facts = requestFacts(ctx, assignRequestId(audit, ctx));
    return audit.runInContext(
      facts,
      () => audit.options.getActor(ctx),
      (scope) => {
        rememberScope(ctx, scope.scope);
        followUser(ctx, scope.refreshActor);
        followRoute(ctx, scope.setRoute);
        return next();
      },
    );
  };
}
