import type { AdminRequest } from '@auditrum/core/admin';
import { createAdminRoutes, renderIndexHtml } from '@auditrum/core/admin';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * A browser that `authorize` refuses gets a page that says so (with a sign-in link when the host gives `loginUrl`),
 * not the raw JSON error; scripts and the JSON API keep the JSON error. No database is needed: nothing is read
 * before `authorize` lets a request through (a pool that cannot connect proves it).
 */

const pool = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none', max: 1 });
pool.on('error', () => undefined);
afterAll(() => pool.end());

type User = { user?: 'staff' | 'guest' };
const authorize = (req: User) => (req.user === undefined ? 'unauthenticated' : req.user === 'staff');

function request(path: string, accept: string | undefined, raw: User = {}, method = 'GET'): AdminRequest<User> {
  return {
    method,
    path,
    query: new URLSearchParams(path === '/changes' ? { actor: '7' } : {}),
    headers: accept === undefined ? {} : { accept },
    basePath: '/audit-admin',
    raw,
  };
}

const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

describe('the refused page', () => {
  it('tells a browser that is not signed in to sign in, linking to loginUrl with the way back', async () => {
    const admin = createAdminRoutes<User>({ pool, authorize, loginUrl: '/login?from=admin' });
    const response = await admin(request('/changes', BROWSER));
    expect(response.status).toBe(401);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['content-security-policy']).toContain("default-src 'none'");
    const page = String(response.body);
    expect(page).toContain('<h1 style="font-size:1.4rem">Sign in to see the audit log</h1>');
    expect(page).toContain('Log in to see the audit log.');
    expect(page).toContain('<a href="/login?from=admin&#38;next=%2Faudit-admin%2Fchanges%3Factor%3D7">Sign in</a>');
    expect(page).not.toContain('"error"');
  });

  it('tells a signed-in user without access that it is refused, and works without loginUrl', async () => {
    const admin = createAdminRoutes<User>({ pool, authorize });
    const response = await admin(request('/', BROWSER, { user: 'guest' }));
    expect(response.status).toBe(403);
    const page = String(response.body);
    expect(page).toContain('Access to the audit log is refused');
    expect(page).toContain('You may not see the audit log.');
    expect(page).not.toContain('<a ');
    const external = createAdminRoutes<User>({ pool, authorize, loginUrl: 'https://id.example.com/sign-in' });
    expect(String((await external(request('/', BROWSER, { user: 'guest' }))).body)).toContain(
      'href="https://id.example.com/sign-in?next=%2Faudit-admin%2F"',
    );
  });

  it('keeps the JSON error for the API, for clients that do not ask for HTML, and for other methods', async () => {
    const admin = createAdminRoutes<User>({ pool, authorize, loginUrl: '/login' });
    for (const [path, accept, method] of [
      ['/api/changes', BROWSER, 'GET'],
      ['api/tables', BROWSER, 'GET'],
      ['/changes', 'application/json', 'GET'],
      ['/changes', undefined, 'GET'],
      ['/changes', BROWSER, 'POST'],
    ] as const) {
      const response = await admin(request(path, accept, {}, method));
      expect(response.status, `${method} ${path} ${accept}`).toBe(401);
      expect(JSON.parse(String(response.body)).error.code).toBe('unauthorized');
    }
  });

  it('gives the admin page loginUrl, for a session that ends while it is open', () => {
    const template = '<!doctype html><html><head><title>x</title></head><body></body></html>';
    expect(renderIndexHtml(template, '/audit-admin', { apiLog: true, loginUrl: '/login' }).html).toContain(
      'window.__AUDITRUM_ADMIN__ = {"basePath":"/audit-admin","apiLog":true,"loginUrl":"/login"}',
    );
    expect(renderIndexHtml(template, '/audit-admin', { apiLog: true }).html).toContain(
      'window.__AUDITRUM_ADMIN__ = {"basePath":"/audit-admin","apiLog":true}',
    );
  });

  it('refuses a loginUrl that is not a path on this site or an http(s) URL, when mounted', () => {
    for (const loginUrl of [
      'javascript:alert(1)',
      '//evil.example/login',
      '/\\evil.example',
      'login',
      '/login"><script>',
      'ftp://host/login',
      '',
      42,
    ]) {
      expect(
        () => createAdminRoutes<User>({ pool, authorize, loginUrl: loginUrl as string }),
        String(loginUrl),
      ).toThrow(/`loginUrl` must be a path on this site/);
    }
  });
});
