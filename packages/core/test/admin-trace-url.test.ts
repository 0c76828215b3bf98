import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAdminRoutes } from '@auditrum/core/admin';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `traceUrl`: the host's trace viewer, injected into the admin page so that a change made in an OpenTelemetry span
 * links to its trace. No database is needed: the page is served before anything is read.
 */

const pool = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none', max: 1 });
pool.on('error', () => undefined);
let assetsDir: string;
beforeAll(async () => {
  assetsDir = await mkdtemp(join(tmpdir(), 'auditrum-trace-url-'));
  await writeFile(
    join(assetsDir, 'index.html'),
    '<!doctype html><html><head><title>x</title></head><body></body></html>',
  );
});
afterAll(async () => {
  await pool.end();
  await rm(assetsDir, { recursive: true, force: true });
});

const authorize = () => true;

describe('the traceUrl option', () => {
  it('is given to the admin page with the rest of its configuration', async () => {
    const admin = createAdminRoutes({
      pool,
      authorize,
      assetsDir,
      traceUrl: 'https://jaeger.internal/trace/{traceId}',
    });
    const page = await admin({
      method: 'GET',
      path: '/changes/42',
      query: new URLSearchParams(),
      headers: { accept: 'text/html' },
      basePath: '/audit-admin',
      raw: {},
    });
    expect(page.status).toBe(200);
    expect(String(page.body)).toContain(
      'window.__AUDITRUM_ADMIN__ = {"basePath":"/audit-admin","apiLog":true,"traceUrl":"https://jaeger.internal/trace/{traceId}"}',
    );
  });

  it('refuses, when mounted, a template that is not an http(s) URL with {traceId}', () => {
    for (const traceUrl of [
      'https://jaeger.internal/trace/',
      'javascript:alert("{traceId}")',
      '/trace/{traceId}',
      'ftp://host/{traceId}',
      'https://host/{traceId}"><script>',
      'https://host/{traceId} x',
      '',
      42,
    ]) {
      expect(() => createAdminRoutes({ pool, authorize, traceUrl: traceUrl as string }), String(traceUrl)).toThrow(
        'auditrum admin: `traceUrl` must be an http(s) URL template with {traceId} (and optionally {spanId}), e.g. https://jaeger.internal/trace/{traceId}',
      );
    }
  });
});
