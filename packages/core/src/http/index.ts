/**
 * @module @auditrum/core/http: the framework-free parts of the Express and Koa middleware (request ids, the
 * per-request audit context, the API-request log with masking, body capture and the batch writer). The
 * adapters in @auditrum/express and @auditrum/koa are thin layers over these.
 */
export { actorFromUser } from './actor-from-user.js';
export type { ApiLogQueueOptions, ApiLogStats } from './api-log-writer.js';
export { ApiLogWriter, emptyApiLogStats } from './api-log-writer.js';
export type { ApiRequestRecord, StoredJson } from './api-request-record.js';
export { JsonText } from './api-request-record.js';
export { bodyValue } from './body-value.js';
export type {
  HttpAuditParts,
  LoggedRequest,
  RequestFacts,
  RequestGetters,
  RequestOutcome,
  RequestScope,
} from './http-audit.js';
export { ABORTED_REQUEST_WAIT_MS, HttpAudit, rememberedScope, rememberScope } from './http-audit.js';
export type { BodyOptions, HttpAuditOptions } from './http-audit-options.js';
export { DEFAULT_EXCLUDED_PATHS } from './http-audit-options.js';
export { maskJsonPreview } from './mask-json-preview.js';
export type { JsonValue, MaskOptions } from './masker.js';
export { Masker } from './masker.js';
export type { RequestIdOptions } from './request-id.js';
export { RequestIds } from './request-id.js';
export { DEFAULT_SENSITIVE_HEADERS, DEFAULT_SENSITIVE_KEYS } from './sensitive-keys.js';
export { watchAssignment } from './watch-assignment.js';
