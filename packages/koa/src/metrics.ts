import { metricsEndpoint } from '@auditrum/core/http';
import type { Middleware } from 'koa';

/**
 * A Prometheus /metrics handler (needs prom-client), e.g. `router.get('/metrics', auditMetrics())`. It serves
 * prom-client's default registry: Auditrum's metrics beside the app's own.
 */
export function auditMetrics(): Middleware {
  const metrics = metricsEndpoint('auditMetrics');
  return async (ctx) => {
    const { contentType, body } = await metrics();
    ctx.type = contentType;
    ctx.body = body;
  };
}
