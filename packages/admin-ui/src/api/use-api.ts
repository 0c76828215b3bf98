import { useCallback, useEffect, useState } from 'react';
import { getJson } from './client.ts';

export type ApiState<T> = { status: 'loading' } | { status: 'error'; error: Error } | { status: 'ok'; data: T };

/** Loads a JSON route whenever `url` changes (null: nothing to load); `retry` loads it again. */
export function useApi<T>(url: string | null): ApiState<T> & { retry: () => void } {
  const [state, setState] = useState<ApiState<T>>({ status: 'loading' });
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    if (url === null) return;
    // `attempt` is a dependency only so that retry() loads the same URL again.
    void attempt;
    const controller = new AbortController();
    setState({ status: 'loading' });
    getJson<T>(url, controller.signal).then(
      (data) => setState({ status: 'ok', data }),
      (error: unknown) => {
        if (controller.signal.aborted) return;
        setState({ status: 'error', error: error instanceof Error ? error : new Error(String(error)) });
      },
    );
    return () => controller.abort();
  }, [url, attempt]);
  const retry = useCallback(() => setAttempt((n) => n + 1), []);
  return { ...state, retry };
}
