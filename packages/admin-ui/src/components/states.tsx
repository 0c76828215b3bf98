import type { ReactNode } from 'react';
import { ApiError } from '../api/client.ts';
import type { ApiState } from '../api/use-api.ts';
import { signInUrl } from '../config.ts';
import { Link } from '../router/Link.tsx';

export function Loading({ what }: { what: string }) {
  return (
    <p className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> Loading {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state state-empty">{children}</div>;
}

/** What went wrong, in words, with a retry button (and the parameter at fault for a 400). */
export function ErrorMessage({ error, retry }: { error: Error; retry?: () => void }) {
  const signIn = signInUrl(window.location.pathname + window.location.search);
  let title = 'Something went wrong';
  if (error instanceof ApiError) {
    if (error.status === 401) title = 'You are not signed in';
    else if (error.status === 403) title = 'You may not see this';
    else if (error.status === 404) title = 'Not found';
    else if (error.status === 400)
      title = error.parameter ? `Invalid value for "${error.parameter}"` : 'Invalid request';
    else if (error.status === 409) title = 'Not written';
    else if (error.code === 'unavailable') title = 'The audit database is unavailable';
    else if (error.code === 'network') title = 'No connection';
  }
  return (
    <div className="state state-error" role="alert">
      <p className="state-title">{title}</p>
      <p>{error.message}</p>
      {error instanceof ApiError && error.status === 401 && signIn !== null ? (
        <a href={signIn}>Sign in</a>
      ) : error instanceof ApiError && error.status === 404 ? (
        <Link to="/changes">Back to the changes</Link>
      ) : error instanceof ApiError && error.status === 400 ? (
        // The same request would get the same answer: no "Try again", the value has to change.
        <p>Correct the value and apply again.</p>
      ) : (
        retry && (
          <button type="button" onClick={retry}>
            Try again
          </button>
        )
      )}
    </div>
  );
}

/** An API result's loading and error states; `children` renders its data once loaded. */
export function Loaded<T>({
  result,
  what,
  children,
}: {
  result: ApiState<T> & { retry: () => void };
  what: string;
  children: (data: T) => ReactNode;
}) {
  if (result.status === 'loading') return <Loading what={what} />;
  if (result.status === 'error') return <ErrorMessage error={result.error} retry={result.retry} />;
  return children(result.data);
}
