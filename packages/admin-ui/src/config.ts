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
