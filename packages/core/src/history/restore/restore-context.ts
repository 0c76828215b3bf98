import { randomUUID } from 'node:crypto';
import type { AuditActor, AuditContext } from '../../context/audit-context.js';
import { getAuditContext } from '../../context/audit-context.js';
import { contextComment } from '../../context/context-comment.js';
import { RestoreError } from './restore-error.js';
import type { ChangeId } from './restore-types.js';

/** The context every write of one restore carries, apart from the changes each reverses. */
export interface RestoreContext {
  base: AuditContext;
  requestId: string;
}

/**
 * Source `restore`, the reason, the actor (given, or the current scope's), and a request id (the current scope's, or
 * a new one) so that the restore itself can be undone; the rest of the current scope (route, ip…) is kept.
 */
export function restoreContext(reason: unknown, actor: unknown, overrode: readonly ChangeId[]): RestoreContext {
  if (typeof reason !== 'string' || reason.trim() === '') {
    throw new RestoreError('invalid', 'give a reason: it is recorded with the restore (a dry run needs none)');
  }
  const ambient = getAuditContext() ?? {};
  const requestId = ambient.requestId ?? randomUUID();
  const base: AuditContext = { ...ambient, source: 'restore', reason: reason.trim(), requestId };
  if (actor !== undefined) base.actor = validActor(actor);
  if (overrode.length > 0) base.meta = { ...ambient.meta, overrode };
  return { base, requestId };
}

/** The comment a statement of the restore starts with: the capture trigger stores it with the change it makes. */
export function statementComment(context: RestoreContext, reverts: readonly ChangeId[]): string {
  return contextComment({ ...context.base, reverts });
}

function validActor(actor: unknown): AuditActor {
  const candidate = actor as Partial<AuditActor> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.id !== 'string' ||
    candidate.id.trim() === '' ||
    (candidate.label !== undefined && typeof candidate.label !== 'string')
  ) {
    throw new RestoreError('invalid', 'an actor is { id: string, label?: string } with a non-empty id');
  }
  return candidate.label === undefined ? { id: candidate.id } : { id: candidate.id, label: candidate.label };
}
