import type { Queue } from 'bullmq';
import { firstAudit } from './audited-once.js';
import { withCarriedContext } from './carried-data.js';

/**
 * Makes a BullMQ queue carry the audit context of the code that enqueues: `add`, `addBulk` and
 * `upsertJobScheduler` (repeatable jobs: each run carries the context of who scheduled it) put it in the job's
 * data under `auditrum`; data that cannot carry it rejects the call. The queue is returned, changed in place, so
 * `auditQueue(new Queue('mail', …))` is the set-up; a second call on the same queue changes nothing.
 */
export function auditQueue<Q extends Queue>(queue: Q): Q {
  if (!firstAudit(queue)) return queue;
  const add = queue.add.bind(queue);
  const addBulk = queue.addBulk.bind(queue);
  const upsertJobScheduler = queue.upsertJobScheduler.bind(queue);
  queue.add = (async (name, data, opts) => add(name, withCarriedContext(data, 'queue.add'), opts)) as Q['add'];
  queue.addBulk = (async (jobs) =>
    addBulk(jobs.map((job) => ({ ...job, data: withCarriedContext(job.data, 'queue.addBulk') })))) as Q['addBulk'];
  queue.upsertJobScheduler = (async (id, repeat, template) =>
    upsertJobScheduler(id, repeat, {
      ...template,
      data: withCarriedContext(template?.data ?? {}, 'queue.upsertJobScheduler'),
    })) as Q['upsertJobScheduler'];
  return queue;
}
