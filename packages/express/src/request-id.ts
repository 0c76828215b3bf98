import { HttpAudit } from '@auditrum/core/http';
import type { RequestHandler } from 'express';
import { assignRequestId, userOf } from './express-request.js';
import type { AuditOptions } from './options.js';

/** Sets `req.id` (a valid inbound X-Request-Id, or a new UUIDv7) and echoes it in the response. */
export function requestId(options?: AuditOptions): RequestHandler {
  const audit = new HttpAudit(options, 'requestId', { context: false, log: false }, userOf);
  return function auditrumRequestId(req, res, next) {
    assignRequestId(audit, req, res);
    next();
  };
}
