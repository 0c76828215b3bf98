import type { ApiLogStats } from '@auditrum/core/http';
import { HttpAudit } from '@auditrum/core/http';
import type { FastifyPluginCallback } from 'fastify';
import { assignRequestId, generateRequestIds, requestFacts, routeOf, userOf } from './fastify-request.js';
import { hooksPlugin } from './hooks-plugin.js';
import type { AuditOptions } from './options.js';
import { addLogHooks, logRequest } from './request-log.js';

/** A plugin that writes the API log, with `close()` to flush it (Fastify's `close()` calls it too) and its counts. */
export type ApiLoggerPlugin = FastifyPluginCallback & {
  /** Writes the rows still queued and stops logging; `app.close()` calls it through the plugin's onClose hook. */
  close(): Promise<void>;
  stats(): ApiLogStats;
};

/**
 * requestId(), auditContext() and apiLogger() in one plugin, with one set of options. Register it before the
 * routes (and before auth, whose user it reads at each change):
 *
 * ```ts
 * await app.register(auditPlugin()); // DATABASE_URL, actor from request.user
 * await app.register(auditPlugin({ pool, getActor: (request) => request.user && { id: request.user.id } }));
 * ```
 */
export function auditPlugin(options?: AuditOptions): ApiLoggerPlugin {
  const audit = new HttpAudit(options, 'auditPlugin', { context: true, log: true }, userOf);
  const plugin = hooksPlugin('@auditrum/fastify', (fastify) => {
    const requestIds = generateRequestIds(fastify, audit);
    fastify.addHook('onRequest', function auditrum(request, reply, done) {
      const facts = requestFacts(request, assignRequestId(audit, request, reply, requestIds));
      const getters = { actor: () => audit.options.getActor(request), route: () => routeOf(request) };
      // done() inside the context: the rest of the lifecycle (later hooks, body parsing, which Fastify keeps in
      // the request's async context, and the handler) runs in it. Not enterWith(): see docs/fastify.md.
      audit.runInContext({ req: request.raw, res: reply.raw }, facts, getters, (scope) => {
        logRequest(audit, request, reply, facts, scope);
        done();
      });
    });
    addLogHooks(fastify, audit);
  });
  return Object.assign(plugin, { close: () => audit.close(), stats: () => audit.stats() });
}
