/**
 * @module @auditrum/core/http: what an adapter (Express, Koa, and the next one) needs to build the middleware:
 * request ids, the per-request audit context and the API-request log, framework-free. Masking, body capture and
 * the API-log store stay inside core; the adapters hold no SQL and no masking logic of their own. The export
 * surface is pinned by test/http-export-surface.test.ts.
 */

export type { MaskOptions } from '../bodies/masker.js';
export type { ApiLogQueueOptions, ApiLogStats } from '../request-log/api-log-writer.js';
export type { HttpAuditParts } from './http-audit.js';
export { HttpAudit, rememberedScope, rememberScope } from './http-audit.js';
export type { BodyOptions, HttpAuditOptions } from './http-audit-options.js';
export type { MetricsResponse } from './metrics-endpoint.js';
export { metricsEndpoint } from './metrics-endpoint.js';
export type { RequestIdOptions, TrustInbound } from './request-id.js';
export type { LogRequest } from './request-logger.js';
export type {
  LoggedRequest,
  RequestFacts,
  RequestGetters,
  RequestMessages,
  RequestOutcome,
  RequestScope,
} from './request-types.js';
export { watchAssignment } from './watch-assignment.js';
