import { captureAuditContext } from '@auditrum/core';

/** The key of a job's data under which the enqueuing code's audit context travels. */
export const CONTEXT_KEY = 'auditrum';

/**
 * A job's data with the current audit context added under CONTEXT_KEY (nothing added outside any context).
 * Only a plain object can carry it: other data is refused with a clear error at enqueue time rather than run
 * later, silently, with nobody as its actor. Data that already has the key is refused in or outside a context:
 * on an audited queue only the queue puts a context there, so that data taken from elsewhere (a webhook's payload
 * enqueued by a consumer that runs in no context) cannot name the worker's actor.
 */
export function withCarriedContext<T>(data: T, caller: string): T {
  if (typeof data === 'object' && data !== null && CONTEXT_KEY in data) {
    throw new TypeError(
      `auditrum: ${caller}: the job's data already has a "${CONTEXT_KEY}" field, which carries the audit context`,
    );
  }
  const captured = captureAuditContext();
  if (captured === undefined) return data;
  if (
    typeof data !== 'object' ||
    data === null ||
    Array.isArray(data) ||
    Object.getPrototypeOf(data) !== Object.prototype
  ) {
    throw new TypeError(
      `auditrum: ${caller}: a job's data must be a plain object to carry the audit context (got ${describe(data)}); wrap it, e.g. { value }`,
    );
  }
  return { ...data, [CONTEXT_KEY]: captured };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'a class'}`;
  return typeof value;
}
