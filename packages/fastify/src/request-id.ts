import { HttpAudit } from '@auditrum/core/http';
import type { FastifyPluginCallback } from 'fastify';
import { assignRequestId, generateRequestIds, userOf } from './fastify-request.js';
import { hooksPlugin } from './hooks-plugin.js';
import type { AuditOptions } from './options.js';

/** Makes `request.id` Auditrum's (a valid inbound X-Request-Id, or a new UUIDv7) and echoes it in the response. */
export function requestId(options?: AuditOptions): FastifyPluginCallback {
  const audit = new HttpAudit(options, 'requestId', { context: false, log: false }, userOf);
  return hooksPlugin('@auditrum/fastify/request-id', (fastify) => {
    const requestIds = generateRequestIds(fastify, audit);
    fastify.addHook('onRequest', function auditrumRequestId(request, reply, done) {
      assignRequestId(audit, request, reply, requestIds);
      done();
    });
  });
}
