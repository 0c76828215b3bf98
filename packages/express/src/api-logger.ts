import type { ApiLogStats } from '@auditrum/core/http';
import { HttpAudit, rememberedScope } from '@auditrum/core/http';
import type { RequestHandler } from 'express';
import { assignRequestId, followRoute, requestFacts, userOf } from './express-request.js';
import type { AuditOptions } from './options.js';

/** A middleware that writes the API log, with `close()` to flush it at shutdown. */
export type ApiLoggerMiddleware = RequestHandler & {
  /** Writes the rows still queued and stops logging; call it on shutdown, after the server stopped accepting. */
  close(): Promise<void>;
  stats(): ApiLogStats;
};

/**
 * Writes one row per request to the API log (`auditrum.api_requests`), off the request path. Install it before
 * the routes and the body parsers; the error message comes from `res.err` (set it in your error handler).
 */
export function apiLogger(options?: AuditOptions): ApiLoggerMiddleware {
  const audit = new HttpAudit(options, 'apiLogger', { context: false, log: true }, userOf);
  const middleware: RequestHandler = function auditrumApiLogger(req, res, next) {
    const facts = requestFacts(req, assignRequestId(audit, req, res));
    const route = followRoute(req);
    audit.log({
      req,
      res,
      hostReq: req,
      facts,
      outcome: { route, error: () => res.err, parsedBody: () => req.body },
      scope: rememberedScope(req),
    });
    next();
  };
  return Object.assign(middleware, { close: () => audit.close(), stats: () => audit.stats() });
}
