/**
 * @module @auditrum/core/http: the framework-free parts of the Express and Koa middleware (request ids, the
 * per-request audit context, the API-request log with masking, body capture and the batch writer). The
 * adapters in @auditrum/express and @auditrum/koa are thin layers over these.
 */

export { bodyValue } from '../bodies/body-value.js';
export { maskJsonPreview } from '../bodies/mask-json-preview.js';
export type { MaskOptions } from '../bodies/masker.js';
export { Masker } from '../bodies/masker.js';
export { DEFAULT_SENSITIVE_HEADERS, DEFAULT_SENSITIVE_KEYS } from '../bodies/sensitive-keys.js';
export type { JsonValue, StoredJson } from '../bodies/stored-json.js';
export { JsonText } from '../bodies/stored-json.js';
export type { ApiLogQueueOptions, ApiLogStats } from '../request-log/api-log-writer.js';
export { ApiLogWriter, emptyApiLogStats } from '../request-log/api-log-writer.js';
export type { ApiRequestRecord } from '../request-log/api-request-record.js';
export { actorFromUser } from './actor-from-user.js';
export type { HttpAuditParts } from './http-audit.js';
export { HttpAudit, rememberedScope, rememberScope } from './http-audit.js';
export type { BodyOptions, HttpAuditOptions } from './http-audit-options.js';
export { DEFAULT_EXCLUDED_PATHS } from './http-audit-options.js';
export type { RequestIdOptions } from './request-id.js';
export { RequestIds } from './request-id.js';
export type { LogRequest } from './request-logger.js';
export { ABORTED_REQUEST_WAIT_MS } from './request-logger.js';
export type { LoggedRequest, RequestFacts, RequestGetters, RequestOutcome, RequestScope } from './request-types.js';
export { watchAssignment } from './watch-assignment.js';
