import { HttpAudit, rememberScope } from '@auditrum/core/http';
import type { RequestHandler } from 'express';
import { assignRequestId, followRoute, requestFacts, userOf } from './express-request.js';
import type { AuditOptions } from './options.js';

/**
 * Runs the rest of the request in an audit context: every change it makes carries the actor, request id,
 * method, route, path, IP and user agent. The actor is read at each change, so this may come before the auth
 * middleware.
 */
export function auditContext(options?: AuditOptions): RequestHandler {
  const audit = new HttpAudit(options, 'auditContext', { context: true, log: false }, userOf);
  return function auditrumContext(req, res, next) {
    const facts = requestFacts(req, assignRequestId(audit, req, res));
    audit.runInContext({ req, res }, facts, { actor: () => audit.options.getActor(req) }, (scope) => {
      rememberScope(req, scope);
      followRoute(req, scope.setRoute);
      next();
    });
  };
}
