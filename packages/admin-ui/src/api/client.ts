import type { AdminErrorBody, RestorePlan } from '@auditrum/core/admin';

/** A failed API call, with the stable error body's code and message when the server sent one. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly parameter: string | undefined;
  /** A refused write's plan (409 `conflict` / `unrestorable`): what stood in the way. */
  readonly plan: RestorePlan | undefined;

  constructor(status: number, code: string, message: string, parameter?: string, plan?: RestorePlan) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.parameter = parameter;
    this.plan = plan;
  }
}

/**
 * The URL of an API route. Relative to the document's base (`<base href>` injected by the server), so the
 * admin works under any base path; empty parameters are left out.
 */
export function apiUrl(route: string, params: Record<string, string | null | undefined> = {}): string {
  const url = new URL(`api/${route}`, document.baseURI);
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, value);
  }
  return url.pathname + url.search;
}

function isErrorBody(body: unknown): body is AdminErrorBody {
  if (typeof body !== 'object' || body === null || !('error' in body)) return false;
  const error = (body as { error: unknown }).error;
  return typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string';
}

/** GETs a JSON route; rejects with an ApiError that says what went wrong. */
export function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  return requestJson<T>(url, { headers: { accept: 'application/json' } }, signal);
}

/**
 * POSTs a JSON body to a route (the admin's writes). The browser adds `Origin` and `Sec-Fetch-Site`, which the
 * server checks: a write is only accepted from the admin's own pages.
 */
export function postJson<T>(url: string, body: unknown, signal?: AbortSignal): Promise<T> {
  return requestJson<T>(
    url,
    {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/json' },
      body: JSON.stringify(body),
    },
    signal,
  );
}

async function requestJson<T>(url: string, init: RequestInit, signal: AbortSignal | undefined): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, credentials: 'same-origin', ...(signal ? { signal } : {}) });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError(0, 'network', 'The server could not be reached. Check the connection and try again.');
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    if (isErrorBody(body)) {
      const { code, message, parameter, plan } = body.error;
      throw new ApiError(response.status, code, message, parameter, plan);
    }
    throw new ApiError(
      response.status,
      'http',
      `The server answered ${response.status} ${response.statusText}.`.trim(),
    );
  }
  if (body === undefined)
    throw new ApiError(response.status, 'invalid', 'The server sent a response that is not JSON.');
  return body as T;
}
