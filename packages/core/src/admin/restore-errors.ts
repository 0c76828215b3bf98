import { RestoreError } from '../history/restore/restore-error.js';
import { AdminError, badParameter, notFound } from './errors.js';

/** What the log does not hold: the write names nothing that exists (404). */
const NOT_FOUND = [/^there is no change #/, /^no change of .* is recorded/];
/** The key given does not fit the table's key columns. */
const BAD_KEY = [/ key column /, /^the key of table /, /^give the key of a row /, / is not a row key/];
/** A row not in the state the write needs (409), e.g. an undelete of a row that is not deleted. */
const WRONG_STATE = [/ is not deleted: /, / is not tracked now: /, / no longer exists: /];

/**
 * A history function's refusal as the admin answers it; anything else is rethrown (a 500, to `onError`), and so is
 * a pool whose role is not an application role (`untrusted`): the host's set-up is wrong, not the request.
 * `parameter` names the field an `invalid` refusal is about when its message does not say otherwise.
 */
export function restoreFailure(error: unknown, parameter: string): unknown {
  if (!(error instanceof RestoreError) || error.kind === 'untrusted') return error;
  const message = error.message.replace(/^auditrum: /, '');
  const plan = error.plan === undefined ? {} : { plan: error.plan };
  if (error.kind === 'conflict') return new AdminError('conflict', message, undefined, plan);
  if (error.kind === 'unrestorable') return new AdminError('unrestorable', message, undefined, plan);
  if (NOT_FOUND.some((pattern) => pattern.test(message))) return notFound(message);
  if (WRONG_STATE.some((pattern) => pattern.test(message))) return new AdminError('conflict', message, undefined, plan);
  if (BAD_KEY.some((pattern) => pattern.test(message))) return badParameter('key', message);
  return badParameter(/^give a reason/.test(message) ? 'reason' : parameter, message);
}
