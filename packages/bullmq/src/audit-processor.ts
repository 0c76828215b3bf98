import { withCapturedAuditContext } from '@auditrum/core';
import { CONTEXT_KEY } from './carried-data.js';

/**
 * What auditProcessor() reads of a job: BullMQ's `Job` in a worker's processor function, its `SandboxedJob` in a
 * sandboxed processor's file (a child process or worker thread) alike.
 */
export interface AuditedJob {
  data: unknown;
  queueName: string;
  name: string;
  id?: string | undefined;
  attemptsMade: number;
}

/**
 * Wraps a BullMQ processor so that each run writes with the context its job carries (from auditQueue(),
 * auditFlowProducer() or captureAuditContext()): the enqueuing user as actor, the enqueuing request's id, the
 * reason, plus `source: job` and the job's queue, name, id and attempt. A job whose carried context is malformed
 * fails before the processor runs (a CapturedContextError), rather than writing under a half-read identity. In a
 * sandboxed processor, wrap the function the processor's file exports.
 *
 * ```ts
 * new Worker('mail', auditProcessor(async (job) => sendReceipt(job.data.orderId)), { connection });
 * ```
 */
export function auditProcessor<J extends AuditedJob, R, A extends unknown[]>(
  processor: (job: J, ...rest: A) => Promise<R>,
): (job: J, ...rest: A) => Promise<R> {
  return (job, ...rest) => {
    const data = job.data as Record<string, unknown> | null | undefined;
    const carried = typeof data === 'object' && data !== null ? data[CONTEXT_KEY] : undefined;
    const run = { queue: job.queueName, name: job.name, attempt: job.attemptsMade + 1 };
    return withCapturedAuditContext(carried, { job: job.id === undefined ? run : { ...run, id: job.id } }, () =>
      processor(job, ...rest),
    );
  };
}
