import { HttpAudit, rememberScope } from '@auditrum/core/http';
import type { FastifyPluginCallback } from 'fastify';
import { assignRequestId, generateRequestIds, requestFacts, routeOf, userOf } from './fastify-request.js';
import { hooksPlugin } from './hooks-plugin.js';
import type { AuditOptions } from './options.js';

/**
 * Runs the rest of each request (later hooks, body parsing, the handler) in an audit context: every change it
 * makes carries the actor, request id, method, route, path, IP and user agent. The actor is read at each change,
 * so auth may run after it.
 */
export function auditContext(options?: AuditOptions): FastifyPluginCallback {
  const audit = new HttpAudit(options, 'auditContext', { context: true, log: false }, userOf);
  return hooksPlugin('@auditrum/fastify/audit-context', (fastify) => {
    const requestIds = generateRequestIds(fastify, audit);
    fastify.addHook('onRequest', function auditrumContext(request, reply, done) {
      const facts = requestFacts(request, assignRequestId(audit, request, reply, requestIds));
      const getters = { actor: () => audit.options.getActor(request), route: () => routeOf(request) };
      audit.runInContext({ req: request.raw, res: reply.raw }, facts, getters, (scope) => {
        rememberScope(request, scope);
        done();
      });
    });
  });
}
