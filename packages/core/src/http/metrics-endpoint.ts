import { hasPrometheus, prometheusMetrics } from '../telemetry/metrics.js';

/** What a /metrics route answers: Prometheus' text format, in the content type prom-client names. */
export interface MetricsResponse {
  contentType: string;
  body: string;
}

/**
 * The body of an adapter's `auditMetrics()` handler: prom-client's default registry (Auditrum's metrics and the
 * host's own). Refused when the app starts, not at the first scrape, if prom-client is not installed.
 */
export function metricsEndpoint(caller: string): () => Promise<MetricsResponse> {
  if (!hasPrometheus()) {
    throw new Error(`auditrum: ${caller}() needs prom-client, an optional peer dependency: npm install prom-client`);
  }
  return prometheusMetrics;
}
