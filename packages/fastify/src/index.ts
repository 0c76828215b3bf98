/**
 * @module @auditrum/fastify: request ids, the audit context and the API-request log for Fastify 4 and 5, as
 * plugins whose hooks apply to the whole app, and the admin as an encapsulated plugin.
 */

export type { ApiLogStats, BodyOptions, MaskOptions, RequestIdOptions } from '@auditrum/core/http';
export { auditAdmin, type FastifyAdminOptions } from './admin.js';
export { apiLogger } from './api-logger.js';
export { auditContext } from './audit-context.js';
export type { ApiLoggerPlugin } from './audit-plugin.js';
export { auditPlugin } from './audit-plugin.js';
export { auditMetrics } from './metrics.js';
export type { AuditOptions } from './options.js';
export { requestId } from './request-id.js';
