/**
 * @module @auditrum/express: request ids, the audit context and the API-request log for Express 4.21+ and 5.
 */
// The module augmentation (req.id, res.err) comes with every import of this package.
import './express-augmentation.js';

export type { ApiLogStats, BodyOptions, MaskOptions, RequestIdOptions } from '@auditrum/core/http';
export { auditAdmin, type ExpressAdminOptions } from './admin.js';
export type { ApiLoggerMiddleware } from './api-logger.js';
export { apiLogger } from './api-logger.js';
export { auditContext } from './audit-context.js';
export { auditMiddleware } from './audit-middleware.js';
export { auditMetrics } from './metrics.js';
export type { AuditOptions } from './options.js';
export { requestId } from './request-id.js';
