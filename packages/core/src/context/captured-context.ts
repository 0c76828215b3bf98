import type { AuditActor, AuditContextInput } from './audit-context.js';
import { getAuditContext, withAuditContext } from './audit-context.js';

/**
 * The part of an audit context that travels with a job from the code that enqueued it to the worker that runs it:
 * who asked, why, and from which request. Plain JSON, so any queue can store it in the job's data.
 */
export interface CapturedAuditContext {
  /** The format's version: a worker refuses one it does not know rather than guess. */
  auditrum: 1;
  actor?: AuditActor;
  reason?: string;
  /** The request (or job) that enqueued: the job's changes carry it, so the admin links them to that request. */
  requestId?: string;
  meta?: Record<string, unknown>;
}

/** A captured context that is not one captureAuditContext() made (a worker's data, read from a queue). */
export class CapturedContextError extends TypeError {
  constructor(problem: string) {
    super(`auditrum: the captured context ${problem}; pass what captureAuditContext() returned, or undefined`);
    this.name = 'CapturedContextError';
  }
}

/**
 * What the current audit context says about who and why, to store with a job when it is enqueued; undefined
 * outside any context. The actor is resolved now (a getter is asked once): the job runs as who enqueued it, even
 * if that user has logged out by then.
 */
export function captureAuditContext(): CapturedAuditContext | undefined {
  const context = getAuditContext();
  if (context === undefined) return undefined;
  const captured: CapturedAuditContext = { auditrum: 1 };
  if (context.actor !== undefined) {
    captured.actor =
      context.actor.label === undefined
        ? { id: String(context.actor.id) }
        : { id: String(context.actor.id), label: String(context.actor.label) };
  }
  if (context.reason !== undefined) captured.reason = context.reason;
  if (context.requestId !== undefined) captured.requestId = context.requestId;
  if (context.meta !== undefined) captured.meta = context.meta;
  return captured;
}

/**
 * Runs a job's work with the context captured when it was enqueued, plus the job's own (`source` is `job` unless
 * `context` says otherwise; its other fields win over the captured ones). `captured` may be undefined (enqueued
 * outside any context, or by code that did not capture): the work then runs with the job's context alone.
 * Anything else that is not a captured context is refused before the work runs: a worker must not write under a
 * half-read identity.
 *
 * ```ts
 * queue.add('receipt', { orderId, auditrum: captureAuditContext() });               // enqueuing code
 * await withCapturedAuditContext(job.data.auditrum,                                    // worker
 *   { job: { queue: 'mail', name: job.name, id: job.id, attempt: job.attemptsMade + 1 } },
 *   () => sendReceipt(job.data.orderId));
 * ```
 */
export function withCapturedAuditContext<T>(
  captured: unknown,
  context: AuditContextInput,
  fn: () => PromiseLike<T>,
): Promise<T>;
export function withCapturedAuditContext<T>(captured: unknown, context: AuditContextInput, fn: () => T): T;
export function withCapturedAuditContext<T>(captured: unknown, context: AuditContextInput, fn: () => T): T {
  const origin = parseCaptured(captured);
  return withAuditContext({ ...origin, source: 'job', ...context }, fn);
}

function parseCaptured(captured: unknown): AuditContextInput {
  if (captured === undefined || captured === null) return {};
  if (typeof captured !== 'object' || Array.isArray(captured)) throw new CapturedContextError('is not an object');
  const { auditrum, actor, reason, requestId, meta, ...unknown } = captured as Record<string, unknown>;
  if (auditrum !== 1) throw new CapturedContextError(`has format ${JSON.stringify(auditrum) ?? 'none'}, not 1`);
  const extra = Object.keys(unknown);
  if (extra.length > 0) throw new CapturedContextError(`has unknown field ${JSON.stringify(extra[0])}`);
  const input: AuditContextInput = {};
  if (actor !== undefined) input.actor = parseActor(actor);
  if (reason !== undefined) input.reason = text(reason, 'reason');
  if (requestId !== undefined) input.requestId = text(requestId, 'requestId');
  if (meta !== undefined) {
    if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) {
      throw new CapturedContextError('has a meta that is not an object');
    }
    input.meta = meta as Record<string, unknown>;
  }
  return input;
}

function parseActor(actor: unknown): AuditActor {
  if (typeof actor !== 'object' || actor === null || Array.isArray(actor)) {
    throw new CapturedContextError('has an actor that is not an object');
  }
  const { id, label, ...unknown } = actor as Record<string, unknown>;
  const extra = Object.keys(unknown);
  if (extra.length > 0) throw new CapturedContextError(`has an actor with unknown field ${JSON.stringify(extra[0])}`);
  const parsed: AuditActor = { id: text(id, 'actor.id') };
  if (label !== undefined) parsed.label = text(label, 'actor.label');
  return parsed;
}

function text(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '')
    throw new CapturedContextError(`has a bad ${field} (not a non-empty string)`);
  return value;
}
