/**
 * @module @auditrum/bullmq: the audit context of the code that enqueues a BullMQ job (who, why, which request)
 * restored in the worker that runs it, so the job's changes are attributed like the request's own.
 */
export { auditFlowProducer } from './audit-flow-producer.js';
export type { AuditedJob } from './audit-processor.js';
export { auditProcessor } from './audit-processor.js';
export { auditQueue } from './audit-queue.js';
export { CONTEXT_KEY } from './carried-data.js';
