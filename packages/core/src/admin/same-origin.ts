import type { AdminRequest } from './admin-http.js';
import { AdminError } from './errors.js';

/**
 * Refuses a write that a browser may have sent on behalf of another site. The host's session cookie goes with
 * any request the browser makes to the admin, whichever page asked for it; what another page cannot forge is
 * `Sec-Fetch-Site` (set by the browser, a forbidden header for scripts) and `Origin`. So a write must carry:
 *
 * 1. `Sec-Fetch-Site: same-origin`, when the header is present (every current browser sends it): `same-site`
 *    (a sibling subdomain), `cross-site` and `none` (a typed URL or a bookmark) are refused; else
 * 2. an `Origin` whose host and port are the request's `Host` (older browsers send Origin on every POST);
 *    `Origin: null` (sandboxed frames, some redirects) is refused; else
 * 3. it is refused: a browser that sends neither is not one we can tell a forged request from.
 *
 * A script or a tool (not a browser) can send either header; it has no victim's cookie to ride on.
 * `X-Forwarded-Host` is not read: clients can forge it when a proxy does not strip it.
 */
export function assertSameOrigin(headers: AdminRequest['headers']): void {
  const fetchSite = single(headers['sec-fetch-site']);
  if (fetchSite !== undefined) {
    if (fetchSite.toLowerCase() !== 'same-origin') {
      throw crossSite(`Sec-Fetch-Site is "${fetchSite}"; writes are only accepted from the admin's own pages`);
    }
    return;
  }
  const origin = single(headers.origin);
  if (origin === undefined) {
    throw crossSite('the request has neither Sec-Fetch-Site nor Origin; send Origin: the URL of the admin');
  }
  const host = single(headers.host) ?? single(headers[':authority']);
  if (host === undefined || !hostsOf(origin).includes(host.toLowerCase())) {
    throw crossSite(`Origin ${JSON.stringify(origin)} is not this site (${host ?? 'no Host header'})`);
  }
}

function crossSite(message: string): AdminError {
  return new AdminError('cross_site', `cross-site write refused: ${message}`);
}

/** A header given once; a repeated one counts as absent here, and Origin absent means refused. */
function single(value: string | readonly string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  return value.length === 1 ? value[0] : undefined;
}

/** The `Host` values an http(s) origin stands for (with and without its default port); none for `null` or junk. */
function hostsOf(origin: string): string[] {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return [];
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== origin.toLowerCase()) return [];
  if (url.port !== '') return [url.host];
  return [url.host, `${url.host}:${url.protocol === 'https:' ? 443 : 80}`];
}
