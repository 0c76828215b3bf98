import { metricsEndpoint } from '@auditrum/core/http';
import type { RequestHandler } from 'express';

/**
 * A Prometheus /metrics handler (needs prom-client): `app.get('/metrics', auditMetrics())`. It serves prom-client's
 * default registry: Auditrum's metrics beside the app's own.
 */
export function auditMetrics(): RequestHandler {
  const metrics = metricsEndpoint('auditMetrics');
  return (_req, res, next) => {
    metrics().then(({ contentType, body }) => {
      res.setHeader('Content-Type', contentType);
      res.end(body);
    }, next);
  };
}
