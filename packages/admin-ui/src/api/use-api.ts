import { useCallback, useEffect, useState } from 'react';
import { getJson } from './client.ts';

export type ApiState<T> = { status: 'loading' } | { status: 'error'; error: Error } | { status: 'ok'; data: T };

/**
 * Loads a JSON route whenever `url` changes (null: nothing to load); `retry` loads it again. The result of
 * a previous URL is never returned for a new one: until the new one answers, the state is `loading`.
 */
export function useApi<T>(url: string | null): ApiState<T> & { retry: () => void } {
  const [state, setState] = useState<{ url: string | null; attempt: number; result: ApiState<T> }>({
    url: null,
    attempt: 0,
    result: { status: 'loading' },
  });
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    if (url === null) return;
    const controller = new AbortController();
    const settle = (result: ApiState<T>) => setState({ url, attempt, result });
    getJson<T>(url, controller.signal).then(
      (data) => settle({ status: 'ok', data }),
      (error: unknown) => {
        if (controller.signal.aborted) return;
        settle({ status: 'error', error: error instanceof Error ? error : new Error(String(error)) });
      },
    );
    return () => controller.abort();
  }, [url, attempt]);
  const retry = useCallback(() => setAttempt((n) => n + 1), []);
  const current = state.url === url && state.attempt === attempt ? state.result : { status: 'loading' as const };
  return { ...current, retry };
}
