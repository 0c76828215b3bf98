import type { WriteResponse } from '@auditrum/core/admin';
import type { FormEvent } from 'react';
import { useEffect, useId, useRef, useState } from 'react';
import { createPortal } from 'react-dom';
import { ApiError } from '../api/client.ts';
import type { ApiState } from '../api/use-api.ts';
import type { WriteTarget } from '../api/write.ts';
import { dryRun, runWrite } from '../api/write.ts';
import { Link } from '../router/Link.tsx';
import { withQuery } from '../router/location.ts';
import { PlanView } from './PlanView.tsx';
import { ErrorMessage, Loading } from './states.tsx';

/**
 * A button that opens the confirmation of one write (revert, restore, undelete, undo). Shown only when the page
 * knows the user may write (`useTables`); the server checks again on every write.
 */
export function WriteAction({
  label,
  title,
  target,
  onWritten,
}: {
  label: string;
  title: string;
  target: WriteTarget;
  /** Called when the dialog closes after a write: the page reloads what it shows. */
  onWritten?: () => void;
}) {
  const [open, setOpen] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const wasOpen = useRef(false);
  const close = (written: boolean) => {
    setOpen(false);
    if (written) onWritten?.();
  };
  // Back to the button once the dialog is gone (and the page no longer inert).
  useEffect(() => {
    if (open) wasOpen.current = true;
    else if (wasOpen.current) button.current?.focus();
  }, [open]);
  return (
    <>
      <button type="button" className="write-button" ref={button} onClick={() => setOpen(true)}>
        {label}
      </button>
      {open && <WriteDialog title={title} target={target} onClose={close} />}
    </>
  );
}

type Outcome =
  | { status: 'editing' }
  | { status: 'running' }
  | { status: 'done'; result: WriteResponse }
  | {
      status: 'failed';
      error: Error;
    };

/**
 * The confirmation: the server's dry run (the diff it will apply, the conflicts, what cannot be put back), a
 * reason (required: it is recorded with each write), `force` when something may be overridden, then the result
 * with links to the changes the write itself was recorded as.
 */
function WriteDialog({
  title,
  target,
  onClose,
}: {
  title: string;
  target: WriteTarget;
  onClose: (written: boolean) => void;
}) {
  const titleId = useId();
  const [plan, setPlan] = useState<ApiState<WriteResponse>>({ status: 'loading' });
  const [attempt, setAttempt] = useState(0);
  const [reason, setReason] = useState('');
  const [force, setForce] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>({ status: 'editing' });
  const dialog = useRef<HTMLDivElement>(null);
  // The target is rebuilt on each render of the page; its JSON is what the dry run depends on.
  const targetJson = JSON.stringify(target);

  useEffect(() => {
    const controller = new AbortController();
    setPlan({ status: 'loading' });
    dryRun(target, controller.signal).then(
      (data) => setPlan({ status: 'ok', data }),
      (error: unknown) => {
        if (!controller.signal.aborted) setPlan({ status: 'error', error: asError(error) });
      },
    );
    return () => controller.abort();
  }, [targetJson, attempt]);

  // Modal: the page behind cannot be reached with Tab or a screen reader while the dialog is open.
  useEffect(() => {
    dialog.current?.focus();
    const page = document.getElementById('root');
    if (page) page.inert = true;
    return () => {
      if (page) page.inert = false;
    };
  }, []);

  const planned = plan.status === 'ok' ? plan.data.plan : undefined;
  const refusedPlan = outcome.status === 'failed' && outcome.error instanceof ApiError ? outcome.error.plan : undefined;
  const shownPlan = refusedPlan ?? planned;
  const blocked = shownPlan?.conflicts.some((conflict) => !conflict.forcible) ?? false;
  const overridable =
    (shownPlan?.conflicts.some((conflict) => conflict.forcible) ?? false) ||
    (shownPlan?.unrestorable.some((item) => item.blocking) ?? false);
  const canSubmit =
    planned !== undefined &&
    planned.statements.length > 0 &&
    !blocked &&
    (!overridable || force) &&
    reason.trim() !== '' &&
    outcome.status !== 'running';

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    if (!canSubmit) return;
    setOutcome({ status: 'running' });
    runWrite(target, reason.trim(), force).then(
      (result) => setOutcome({ status: 'done', result }),
      (error: unknown) => setOutcome({ status: 'failed', error: asError(error) }),
    );
  };

  return createPortal(
    <div className="dialog-backdrop">
      <div
        className="dialog panel"
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        tabIndex={-1}
        ref={dialog}
        onKeyDown={(event) => {
          if (event.key === 'Escape') onClose(outcome.status === 'done');
        }}
      >
        <h2 id={titleId}>{title}</h2>
        {outcome.status === 'done' ? (
          <WriteDone result={outcome.result} />
        ) : plan.status === 'loading' ? (
          <Loading what="what would change" />
        ) : plan.status === 'error' ? (
          <ErrorMessage error={plan.error} retry={() => setAttempt((n) => n + 1)} />
        ) : (
          <form onSubmit={onSubmit} className="write-form">
            <p className="muted">Nothing is written until you confirm. This is what would change:</p>
            <PlanView plan={shownPlan ?? plan.data.plan} />
            {outcome.status === 'failed' && <ErrorMessage error={outcome.error} />}
            {blocked && <p className="error-text">A conflict blocks this write: it cannot be forced.</p>}
            <label className="write-reason">
              Reason (recorded with the change)
              <textarea
                name="reason"
                value={reason}
                onChange={(event) => setReason(event.target.value)}
                required
                rows={2}
                maxLength={2000}
              />
            </label>
            {overridable && !blocked && (
              <label className="write-force">
                <input type="checkbox" checked={force} onChange={(event) => setForce(event.target.checked)} /> Write
                anyway: override the conflicts above and leave what cannot be put back as it is
              </label>
            )}
            <div className="dialog-actions">
              <button type="submit" disabled={!canSubmit}>
                {outcome.status === 'running' ? 'Writing…' : 'Confirm'}
              </button>
              <button type="button" className="secondary" onClick={() => onClose(false)}>
                Cancel
              </button>
            </div>
          </form>
        )}
        {outcome.status === 'done' && (
          <div className="dialog-actions">
            <button type="button" onClick={() => onClose(true)}>
              Close
            </button>
          </div>
        )}
      </div>
    </div>,
    document.body,
  );
}

/** The write's own changes, linked: each is in the log with source `restore`, the reason and what it reverses. */
function WriteDone({ result }: { result: WriteResponse }) {
  const count = result.changeIds.length;
  return (
    <div role="status" className="write-done">
      <p>
        Done: {count} {count === 1 ? 'change' : 'changes'} written and recorded.
      </p>
      <ul>
        {result.changeIds.map((id) => (
          <li key={id}>
            <Link to={`/changes/${id}`}>New change {id}</Link>
          </li>
        ))}
      </ul>
      {result.requestId && (
        <p>
          <Link to={withQuery('/changes', { request: result.requestId })}>All changes of this restore</Link>{' '}
          <span className="muted">(its request can be undone the same way)</span>
        </p>
      )}
    </div>
  );
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
