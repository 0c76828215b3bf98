import type { FlowJob, FlowProducer } from 'bullmq';
import { firstAudit } from './audited-once.js';
import { withCarriedContext } from './carried-data.js';

/** A flow (a job and its children, at any depth) whose every job carries the current audit context. */
function carried<F extends { data?: unknown; children?: F[] }>(flow: F, caller: string): F {
  return {
    ...flow,
    data: withCarriedContext(flow.data ?? {}, caller),
    ...(flow.children === undefined ? {} : { children: flow.children.map((child) => carried(child, caller)) }),
  };
}

/**
 * Makes a BullMQ flow producer carry the audit context of the code that adds a flow: `add` and `addBulk` put it in
 * the data of every job of the flow, parent and children at any depth, so that each runs as who added the flow.
 * Data that cannot carry it rejects the call before any job is added. The producer is returned, changed in place;
 * a second call on the same producer changes nothing.
 */
export function auditFlowProducer<P extends FlowProducer>(producer: P): P {
  if (!firstAudit(producer)) return producer;
  const add = producer.add.bind(producer);
  const addBulk = producer.addBulk.bind(producer);
  producer.add = (async (flow: FlowJob, opts) => add(carried(flow, 'flowProducer.add'), opts)) as P['add'];
  producer.addBulk = (async (flows: FlowJob[]) =>
    addBulk(flows.map((flow) => carried(flow, 'flowProducer.addBulk')))) as P['addBulk'];
  return producer;
}
