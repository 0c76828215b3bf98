import { HttpAudit } from '@auditrum/core/http';
import type { RequestHandler } from 'express';
import type { ApiLoggerMiddleware } from './api-logger.js';
import { assignRequestId, followRoute, requestFacts, userOf } from './express-request.js';
import type { AuditOptions } from './options.js';

/**
 * requestId(), auditContext() and apiLogger() in one middleware, with one set of options:
 *
 * ```ts
 * app.use(auditMiddleware()); // DATABASE_URL, actor from req.user
 * app.use(auditMiddleware({ pool, getActor: (req) => req.user && { id: req.user.id, label: req.user.email } }));
 * ```
 */
export function auditMiddleware(options?: AuditOptions): ApiLoggerMiddleware {
  const audit = new HttpAudit(options, 'auditMiddleware', { context: true, log: true }, userOf);
  const middleware: RequestHandler = function auditrum(req, res, next) {
    const facts = requestFacts(req, assignRequestId(audit, req, res));
    audit.runInContext({ req, res }, facts, { actor: () => audit.options.getActor(req) }, (scope) => {
      const route = followRoute(req, scope.setRoute);
      audit.log({
        req,
        res,
        hostReq: req,
        facts,
        outcome: { route, error: () => res.err, parsedBody: () => req.body },
        scope,
      });
      next();
    });
  };
  return Object.assign(middleware, { close: () => audit.close(), stats: () => audit.stats() });
}
