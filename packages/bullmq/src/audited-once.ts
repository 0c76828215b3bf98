const AUDITED = Symbol.for('auditrum.bullmq-audited');

/**
 * True the first time it is asked of `target` (a queue or a flow producer), false after: set up twice (two modules
 * that each make sure of it), the outer wrapper would give the data its context and the inner one refuse it.
 */
export function firstAudit(target: object): boolean {
  const marked = target as { [AUDITED]?: true };
  if (marked[AUDITED]) return false;
  Object.defineProperty(marked, AUDITED, { value: true });
  return true;
}
