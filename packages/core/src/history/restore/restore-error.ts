import type { RestoreConflict, RestorePlan, Unrestorable } from './restore-types.js';

/**
 * Why a restore wrote nothing: bad input (`invalid`), conflicts it will not override (`conflict`), values it cannot
 * put back (`unrestorable`), or a connection whose context the capture triggers do not trust (`untrusted`), so the
 * restore could not be recorded as one.
 */
export class RestoreError extends Error {
  override name = 'RestoreError';
  readonly kind: 'invalid' | 'conflict' | 'unrestorable' | 'untrusted';
  /** The plan, when one was built. */
  readonly plan: RestorePlan | undefined;

  constructor(kind: RestoreError['kind'], message: string, plan?: RestorePlan) {
    super(`auditrum: ${message}`);
    this.kind = kind;
    this.plan = plan;
  }
}

/** The error for conflicts, naming each (what `force` would override, and what it cannot). */
export function conflictError(plan: RestorePlan, conflicts: readonly RestoreConflict[]): RestoreError {
  const forcible = conflicts.every((conflict) => conflict.forcible);
  const lines = conflicts.map((conflict) => `  - ${conflict.message}`).join('\n');
  const advice = forcible ? 'nothing was changed; force overrides them' : 'nothing was changed';
  return new RestoreError('conflict', `${conflicts.length} conflict(s):\n${lines}\n${advice}`, plan);
}

/** The error for values that cannot be put back, naming each. */
export function unrestorableError(plan: RestorePlan, items: readonly Unrestorable[]): RestoreError {
  const lines = items.map((item) => `  - ${item.message}`).join('\n');
  return new RestoreError(
    'unrestorable',
    `${items.length} value(s) cannot be restored:\n${lines}\nnothing was changed; force restores the rest and leaves these as they are`,
    plan,
  );
}
