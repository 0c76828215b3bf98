import type { AdminRequest, AdminResponse } from './admin-http.js';
import { withCommonHeaders } from './admin-http.js';

const html = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Whether a refused request is a person opening the admin in a browser (a page, not `api/*`, asking for HTML): they
 * get a page that says so, not the JSON error scripts get.
 */
export function wantsRefusedPage(request: AdminRequest<unknown>, apiPath: boolean): boolean {
  if (apiPath || (request.method !== 'GET' && request.method !== 'HEAD')) return false;
  const accept = request.headers.accept;
  const value = Array.isArray(accept) ? accept.join(',') : (accept ?? '');
  return /\btext\/html\b/i.test(value as string);
}

/**
 * The page a browser gets when `authorize` refuses it: what happened in words, and, when the host gave a
 * `loginUrl`, a link to sign in that comes back here (`?next=` the admin's URL, a path on this site). Nothing of the
 * log is in it, and it loads nothing: no script, no style sheet.
 */
export function refusedPage(
  status: 401 | 403,
  message: string,
  loginUrl: string | undefined,
  returnTo: string,
): AdminResponse {
  const title = status === 401 ? 'Sign in to see the audit log' : 'Access to the audit log is refused';
  let signIn = '';
  if (loginUrl !== undefined) {
    const url = new URL(loginUrl, 'http://host.invalid');
    url.searchParams.set('next', returnTo);
    const href = loginUrl.startsWith('/') ? `${url.pathname}${url.search}` : url.toString();
    signIn = `<p><a href="${html(href)}">${status === 401 ? 'Sign in' : 'Sign in as another user'}</a></p>`;
  }
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${html(title)} · Auditrum</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5">
<h1 style="font-size:1.4rem">${html(title)}</h1><p>${html(message[0]?.toUpperCase() ?? '')}${html(message.slice(1))}.</p>${signIn}
</body></html>`;
  return {
    status,
    headers: withCommonHeaders({
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy':
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
    }),
    body,
  };
}
