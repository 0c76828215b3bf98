/**
 * @module @auditrum/koa: request ids, the audit context and the API-request log for Koa 2 and 3.
 */
// The module augmentation (ctx.state.requestId) comes with every import of this package.
import './koa-augmentation.js';

export type { ApiLogStats, BodyOptions, MaskOptions, RequestIdOptions } from '@auditrum/core/http';
export { auditAdmin, type KoaAdminOptions } from './admin.js';
export type { ApiLoggerMiddleware } from './api-logger.js';
export { apiLogger } from './api-logger.js';
export { auditContext } from './audit-context.js';
export { auditMiddleware } from './audit-middleware.js';
export { auditMetrics } from './metrics.js';
export type { AuditOptions } from './options.js';
export { requestId } from './request-id.js';
