import { HttpAudit, rememberedScope } from '@auditrum/core/http';
import type { ApiLoggerPlugin } from './audit-plugin.js';
import { assignRequestId, generateRequestIds, requestFacts, userOf } from './fastify-request.js';
import { hooksPlugin } from './hooks-plugin.js';
import type { AuditOptions } from './options.js';
import { addLogHooks, logRequest } from './request-log.js';

/**
 * Writes one row per request to the API log (`auditrum.api_requests`), off the request path. Register it after
 * auditContext() (its rows then carry the actor the changes saw) and before the routes.
 */
export function apiLogger(options?: AuditOptions): ApiLoggerPlugin {
  const audit = new HttpAudit(options, 'apiLogger', { context: false, log: true }, userOf);
  const plugin = hooksPlugin('@auditrum/fastify/api-logger', (fastify) => {
    const requestIds = generateRequestIds(fastify, audit);
    fastify.addHook('onRequest', function auditrumApiLogger(request, reply, done) {
      const facts = requestFacts(request, assignRequestId(audit, request, reply, requestIds));
      logRequest(audit, request, reply, facts, rememberedScope(request));
      done();
    });
    addLogHooks(fastify, audit);
  });
  return Object.assign(plugin, { close: () => audit.close(), stats: () => audit.stats() });
}
