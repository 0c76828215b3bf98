import type { AdminClientConfig } from '@auditrum/core/admin';

declare global {
  interface Window {
    /** Injected into index.html by the server that serves the admin. */
    __AUDITRUM_ADMIN__?: Partial<AdminClientConfig>;
  }
}

/**
 * The path the admin is served under, with a leading slash and no trailing one ('' at the site root).
 * The server injects it; without it (e.g. `vite preview`) the admin assumes the site root.
 */
export function basePath(): string {
  const injected = window.__AUDITRUM_ADMIN__?.basePath;
  if (typeof injected !== 'string') return '';
  return injected.replace(/\/+$/, '');
}

/** Whether the API-request log is in the user's scope; the server says so (an older server shows it always). */
export function apiLogVisible(): boolean {
  return window.__AUDITRUM_ADMIN__?.apiLog !== false;
}

/**
 * The host's sign-in page with the way back to `returnTo` (`?next=`), when the server was given `loginUrl`; a
 * session that ends while the admin is open then gets a link instead of a dead end.
 */
export function signInUrl(returnTo: string): string | null {
  const loginUrl = window.__AUDITRUM_ADMIN__?.loginUrl;
  if (typeof loginUrl !== 'string' || loginUrl === '') return null;
  const url = new URL(loginUrl, window.location.origin);
  url.searchParams.set('next', returnTo);
  return url.origin === window.location.origin ? url.pathname + url.search : url.toString();
}

/**
 * The host's trace viewer for a trace (the server's `traceUrl` option with `{traceId}` and `{spanId}` filled in),
 * or null when the host gave none.
 */
export function traceLink(traceId: string, spanId: string | undefined): string | null {
  const template = window.__AUDITRUM_ADMIN__?.traceUrl;
  if (typeof template !== 'string' || template === '') return null;
  return template
    .replaceAll('{traceId}', encodeURIComponent(traceId))
    .replaceAll('{spanId}', encodeURIComponent(spanId ?? ''));
}
