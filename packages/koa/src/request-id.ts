import { HttpAudit } from '@auditrum/core/http';
import type { Middleware } from 'koa';
import { assignRequestId, userOf } from './koa-context.js';
import type { AuditOptions } from './options.js';

/** Sets `ctx.state.requestId` (a valid inbound X-Request-Id, or a new UUIDv7) and echoes it in the response. */
export function requestId(options?: AuditOptions): Middleware {
  const audit = new HttpAudit(options, 'requestId', { context: false, log: false }, userOf);
  return function auditrumRequestId(ctx, next) {
    assignRequestId(audit, ctx);
    return next();
  };
}
