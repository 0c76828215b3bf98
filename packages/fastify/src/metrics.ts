import { metricsEndpoint } from '@auditrum/core/http';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * A Prometheus /metrics route handler (needs prom-client): `app.get('/metrics', auditMetrics())`. It serves
 * prom-client's default registry: Auditrum's metrics beside the app's own.
 */
export function auditMetrics(): (request: FastifyRequest, reply: FastifyReply) => Promise<string> {
  const metrics = metricsEndpoint('auditMetrics');
  return async (_request, reply) => {
    const { contentType, body } = await metrics();
    reply.type(contentType);
    return body;
  };
}
