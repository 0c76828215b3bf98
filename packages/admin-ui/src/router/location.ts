import { useSyncExternalStore } from 'react';
import { basePath } from '../config.ts';

/** Where the admin is, relative to its base path: `/changes/12` and its query string. */
export interface AppLocation {
  path: string;
  search: URLSearchParams;
  /** The exact string the location was read from; stable between renders while the URL is unchanged. */
  key: string;
}

const NAVIGATE_EVENT = 'auditrum:navigate';

function subscribe(onChange: () => void): () => void {
  window.addEventListener('popstate', onChange);
  window.addEventListener(NAVIGATE_EVENT, onChange);
  return () => {
    window.removeEventListener('popstate', onChange);
    window.removeEventListener(NAVIGATE_EVENT, onChange);
  };
}

const snapshot = () => window.location.pathname + window.location.search;

let cached: AppLocation | undefined;

/** The current location, re-rendering on navigation (links, back and forward). */
export function useLocation(): AppLocation {
  const key = useSyncExternalStore(subscribe, snapshot);
  if (cached?.key !== key) cached = parseLocation(key);
  return cached;
}

export function parseLocation(key: string): AppLocation {
  const url = new URL(key, 'http://admin.invalid');
  const base = basePath();
  let path = url.pathname;
  if (base && (path === base || path.startsWith(`${base}/`))) path = path.slice(base.length);
  return { path: path || '/', search: url.searchParams, key };
}

/** The browser URL of an admin path (e.g. `/changes?actor=7` → `/audit-admin/changes?actor=7`). */
export function href(to: string): string {
  return `${basePath()}${to.startsWith('/') ? to : `/${to}`}`;
}

/** Goes to an admin path without reloading the page. */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const url = href(to);
  if (options.replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  window.dispatchEvent(new Event(NAVIGATE_EVENT));
  if (!options.replace) window.scrollTo(0, 0);
}

/** Builds `path?query` from parameters, leaving out empty ones. */
export function withQuery(path: string, params: Record<string, string | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, value);
  }
  const query = search.toString();
  return query ? `${path}?${query}` : path;
}
