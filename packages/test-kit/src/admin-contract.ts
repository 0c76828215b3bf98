import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { RequestListener, Server } from 'node:http';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './test-database.js';

/**
 * What each adapter's test builds for the admin battery: one small app, the same in every framework.
 *
 * 1. Fake auth: the header `x-test-user` (`staff` or any other name) becomes the framework's user
 *    (`req.user` / `ctx.state.user`, as `{ name }`); no header, no user.
 * 2. The admin, mounted at `mountPath` (Express `app.use(mountPath, auditAdmin(...))`, Koa `basePath`), with
 *    `assetsDir` and `publicPath` passed through, and, read from the framework's own request:
 *    `authorize`: no user → `'unauthenticated'`, user `staff` → `true`, anyone else → `false`;
 *    `scope`: the header `x-test-scope`, when present, → `{ tables: [its value] }`.
 * 3. `GET /outside` → 200 text `outside` (the admin must let other routes be).
 * 4. With `writable`, the admin also gets `authorizeWrite` (user `writer` → `true`, anyone else → `false`; `writer`
 *    may read too) and `actor` → `{ id: 'admin-' + name, label: name }`; with `bodyParser`, the app parses JSON
 *    bodies itself before the admin (`express.json()`, `@koa/bodyparser`).
 */
export interface AdminAppOptions {
  pool: pg.Pool;
  mountPath: string;
  assetsDir: string;
  publicPath?: string;
  writable?: boolean;
  bodyParser?: boolean;
}

export interface AdminAdapterUnderTest {
  /** e.g. `Express 5`. */
  name: string;
  createApp(options: AdminAppOptions): RequestListener;
  /** Calls the adapter's `auditAdmin(options)` as is, for the construction errors. */
  mount(options: unknown): unknown;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request with the path sent exactly as given (fetch would normalise `..` and `%2e%2e`). */
function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
  body?: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const STAFF = { 'x-test-user': 'staff' };
const SCRIPT = '<script>alert(1)</script>';

/** The admin battery: the same cases against an adapter, over real HTTP, on the test database. */
export function runAdminAdapterContract(adapter: AdminAdapterUnderTest): void {
  describe(`auditAdmin() on ${adapter.name}`, () => {
    const db = useTestDatabase();
    let pool: pg.Pool;
    let assetsDir: string;
    const servers: Server[] = [];

    async function start(
      mountPath: string,
      publicPath?: string,
      write: Pick<AdminAppOptions, 'writable' | 'bodyParser'> = {},
    ): Promise<number> {
      const listener = adapter.createApp({
        pool,
        mountPath,
        assetsDir,
        ...(publicPath === undefined ? {} : { publicPath }),
        ...write,
      });
      const server = createServer(listener);
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return (server.address() as AddressInfo).port;
    }

    let port: number;
    beforeAll(async () => {
      pool = db.openPool({ max: 2 });
      await pool.query('CREATE TABLE items (id int PRIMARY KEY, name text, note text)');
      await pool.query('CREATE TABLE secrets (id int PRIMARY KEY, value text)');
      await pool.query(`SELECT auditrum.track('public.items'), auditrum.track('public.secrets')`);
      await pool.query(`INSERT INTO items SELECT g, 'item ' || g, $1 FROM generate_series(1, 1500) g`, [SCRIPT]);
      await pool.query(`UPDATE items SET name = 'renamed' WHERE id = 1`);
      await pool.query(`INSERT INTO secrets VALUES (1, 'hidden')`);
      await pool.query(
        `INSERT INTO auditrum.api_requests (requested_at, request_id, method, path, status, duration_ms, actor_id)
         VALUES (now(), 'req-1', 'PUT', '/items/1', 200, 3.5, 'u-1')`,
      );
      assetsDir = await mkdtemp(join(tmpdir(), 'auditrum-admin-contract-'));
      await mkdir(join(assetsDir, 'assets'));
      await writeFile(
        join(assetsDir, 'index.html'),
        '<!doctype html><html><head><meta charset="utf-8"></head><body><script type="module" src="./assets/app.js"></script></body></html>',
      );
      await writeFile(join(assetsDir, 'assets', 'app.js'), 'console.log("admin")');
      await writeFile(join(assetsDir, 'secret.txt'), 'TOP-SECRET');
      port = await start('/audit-admin');
    });

    afterAll(async () => {
      for (const server of servers) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
      await pool?.end();
      if (assetsDir) await rm(assetsDir, { recursive: true, force: true });
    });

    it('refuses to mount without authorize, naming it', () => {
      expect(() => adapter.mount({ pool })).toThrow(/`authorize` is missing/);
      expect(() => adapter.mount({ pool, authorize: 'yes' })).toThrow(/`authorize` is not a function/);
      expect(() => adapter.mount({ authorize: () => true })).toThrow(/`pool` must be a pg Pool/);
    });

    it('answers 401 and 403 before any data or asset, with the stable error body', async () => {
      for (const path of [
        '/audit-admin/api/changes',
        '/audit-admin/',
        '/audit-admin/assets/app.js',
        '/audit-admin/x',
      ]) {
        const anonymous = await get(port, path);
        expect([anonymous.status, JSON.parse(anonymous.body)]).toEqual([
          401,
          { error: { code: 'unauthorized', message: 'log in to see the audit log' } },
        ]);
        const guest = await get(port, path, { 'x-test-user': 'guest' });
        expect([guest.status, JSON.parse(guest.body).error.code]).toEqual([403, 'forbidden']);
        expect(guest.body).not.toContain('admin');
      }
    });

    it('serves the JSON API to the authorized user, with its filters, pages and 400s', async () => {
      const tables = await get(port, '/audit-admin/api/tables', STAFF);
      expect(tables.status).toBe(200);
      expect(tables.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(JSON.parse(tables.body).tables.map((t: { table: string }) => t.table)).toEqual(['items', 'secrets']);
      const page = await get(port, '/audit-admin/api/changes?table=public.items&key=1&limit=5', STAFF);
      const items = JSON.parse(page.body).items as { operation: string; newValues: Record<string, unknown> }[];
      expect(items.map((c) => c.operation)).toEqual(['UPDATE', 'INSERT']);
      expect(items[1]?.newValues.note).toBe(SCRIPT);
      const first = JSON.parse((await get(port, '/audit-admin/api/changes?limit=200', STAFF)).body);
      const second = JSON.parse(
        (await get(port, `/audit-admin/api/changes?limit=200&cursor=${encodeURIComponent(first.nextCursor)}`, STAFF))
          .body,
      );
      expect(Number(second.items[0].id)).toBeLessThan(Number(first.items.at(-1).id));
      const bad = await get(port, '/audit-admin/api/changes?limit=0', STAFF);
      expect([bad.status, JSON.parse(bad.body).error.parameter]).toEqual([400, 'limit']);
      const request = await get(port, '/audit-admin/api/requests/req-1', STAFF);
      expect(JSON.parse(request.body).request).toMatchObject({ requestId: 'req-1', method: 'PUT', durationMs: 3.5 });
      expect((await get(port, '/audit-admin/api/nope', STAFF)).status).toBe(404);
      // A percent-encoded id reaches the route decoded.
      const actor = await get(port, `/audit-admin/api/actors/${encodeURIComponent('u-1')}`, STAFF);
      expect(JSON.parse(actor.body).requestCount).toBe(1);
    });

    it('applies the scope computed from the framework request', async () => {
      const scoped = { ...STAFF, 'x-test-scope': 'public.secrets' };
      const changes = JSON.parse((await get(port, '/audit-admin/api/changes', scoped)).body);
      expect(changes.items.map((c: { table: string }) => c.table)).toEqual(['secrets']);
      expect((await get(port, '/audit-admin/api/changes?table=public.items', scoped)).status).toBe(400);
    });

    it('streams the export as an attachment, and stops when the client goes away', async () => {
      const csv = await get(port, '/audit-admin/api/changes/export?format=csv&table=public.items', STAFF);
      expect(csv.status).toBe(200);
      expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(csv.headers['content-disposition']).toMatch(/^attachment; filename="auditrum-changes-.*\.csv"$/);
      expect(csv.body.trimEnd().split('\r\n')).toHaveLength(1 + 1501);
      // A filter nothing matches: the route answers after one bounded batch of the log with a first chunk that holds no
      // line (NDJSON) or the header alone (CSV); the adapter writes it (which sends the headers) and ends the file.
      const none = await get(port, '/audit-admin/api/changes/export?format=ndjson&column=nowhere', STAFF);
      expect([none.status, none.headers['content-type'], none.body]).toEqual([
        200,
        'application/x-ndjson; charset=utf-8',
        '',
      ]);
      const header = await get(port, '/audit-admin/api/changes/export?format=csv&source=nowhere', STAFF);
      expect([header.status, header.body]).toEqual([
        200,
        'id,changed_at,txid,schema,table,operation,row_key,key_erasure,actor_id,actor_label,actor_erasure,request_id,source,reason,changed_columns,old_values,new_values,context\r\n',
      ]);
      // A client that reads the head and leaves: the app keeps answering and the pool gets its connections back.
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port, path: '/audit-admin/api/changes/export?format=ndjson', headers: STAFF },
          (res) => {
            res.once('data', () => {
              req.destroy();
              resolve();
            });
          },
        );
        req.on('error', () => undefined);
        req.on('close', resolve);
        req.end();
        setTimeout(() => reject(new Error('no data')), 5000);
      });
      const after = await get(port, '/audit-admin/api/tables', STAFF);
      expect(after.status).toBe(200);
      await expect.poll(() => pool.totalCount - pool.idleCount).toBe(0);
    });

    it('gives the table as of a time export’s connection back on HEAD and when the client leaves, before reading or mid-way', async () => {
      const at = encodeURIComponent(new Date().toISOString());
      const path = `/audit-admin/api/table-as-of/export?format=ndjson&table=public.items&at=${at}`;
      // The export's first row is read before answering: its connection is checked out, in a transaction.
      for (let i = 0; i < 3; i++) {
        const head = await get(port, path, STAFF, 'HEAD');
        expect([head.status, head.body, head.headers['content-type']]).toEqual([
          200,
          '',
          'application/x-ndjson; charset=utf-8',
        ]);
      }
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((resolve, reject) => {
          const req = httpRequest({ host: '127.0.0.1', port, path, headers: STAFF }, () => {
            req.destroy();
            resolve();
          });
          req.on('error', () => undefined);
          req.end();
          setTimeout(() => reject(new Error('no response')), 5000);
        });
      }
      // And three that leave past the first page, during the whole table's rebuild (its COPY) or after it.
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((resolve, reject) => {
          const req = httpRequest({ host: '127.0.0.1', port, path, headers: STAFF }, (res) => {
            let lines = 0;
            res.on('data', (chunk: Buffer) => {
              lines += chunk.toString('utf8').split('\n').length - 1;
              if (lines > 20) {
                req.destroy();
                resolve();
              }
            });
          });
          req.on('error', () => undefined);
          req.end();
          setTimeout(() => reject(new Error('no rows')), 5000);
        });
      }
      // And two that leave before the answer: their first page waits on a lock of the table (one at a time: the pool
      // has two connections, and the check takes one), which is released once they left; the answer then goes to a
      // closed connection.
      const locker = db.openPool({ max: 1 });
      try {
        for (let i = 0; i < 2; i++) {
          const lock = await locker.connect();
          await lock.query('BEGIN');
          await lock.query('LOCK TABLE items IN ACCESS EXCLUSIVE MODE');
          const req = httpRequest({ host: '127.0.0.1', port, path, headers: STAFF });
          req.on('error', () => undefined);
          req.end();
          const waiting = `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock'`;
          await expect.poll(async () => (await pool.query<{ n: number }>(waiting)).rows).toEqual([{ n: 1 }]);
          req.destroy();
          await lock.query('COMMIT');
          lock.release();
          await expect.poll(() => pool.totalCount - pool.idleCount).toBe(0);
        }
      } finally {
        await locker.end();
      }
      // A pool of two, eleven exports not read to the end: the pool has them back, and none is left open in PostgreSQL.
      await expect.poll(() => pool.totalCount - pool.idleCount).toBe(0);
      const open = () =>
        pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
             AND (state LIKE 'idle in%' OR query LIKE 'COPY%' AND state = 'active')`,
        );
      await expect.poll(async () => (await open()).rows).toEqual([{ n: 0 }]);
      expect((await get(port, '/audit-admin/api/tables', STAFF)).status).toBe(200);
    });

    it('serves index.html with the mount path injected, for the root and deep links', async () => {
      for (const path of [
        '/audit-admin',
        '/audit-admin/',
        '/audit-admin/changes/42?x=1',
        '/audit-admin/requests/a%2Fb',
      ]) {
        const page = await get(port, path, STAFF);
        expect([path, page.status]).toEqual([path, 200]);
        expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
        expect(page.headers['cache-control']).toBe('no-cache');
        expect(page.body).toContain(
          '<head><base href="/audit-admin/"><script>window.__AUDITRUM_ADMIN__ = {"basePath":"/audit-admin","apiLog":true}</script>',
        );
      }
      const head = await get(port, '/audit-admin/', STAFF, 'HEAD');
      expect([head.status, head.body, head.headers['content-type']]).toEqual([200, '', 'text/html; charset=utf-8']);
    });

    it('serves assets with their type and long cache, and refuses path traversal', async () => {
      const js = await get(port, '/audit-admin/assets/app.js', STAFF);
      expect([js.status, js.body, js.headers['content-type'], js.headers['cache-control']]).toEqual([
        200,
        'console.log("admin")',
        'text/javascript; charset=utf-8',
        'public, max-age=31536000, immutable',
      ]);
      const zipped = await new Promise<{ encoding: string | undefined; body: string }>((resolve, reject) => {
        httpRequest(
          {
            host: '127.0.0.1',
            port,
            path: '/audit-admin/assets/app.js',
            headers: { ...STAFF, 'accept-encoding': 'gzip' },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () =>
              resolve({
                encoding: res.headers['content-encoding'],
                body: gunzipSync(Buffer.concat(chunks)).toString(),
              }),
            );
          },
        )
          .on('error', reject)
          .end();
      });
      expect(zipped).toEqual({ encoding: 'gzip', body: 'console.log("admin")' });
      for (const path of [
        '/audit-admin/assets/../secret.txt',
        '/audit-admin/assets/%2e%2e/secret.txt',
        '/audit-admin/assets/..%2fsecret.txt',
        '/audit-admin/assets/%2e%2e%5csecret.txt',
        '/audit-admin/assets/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      ]) {
        const reply = await get(port, path, STAFF);
        expect(reply.body).not.toContain('TOP-SECRET');
        expect(reply.body).not.toContain('root:');
        expect([404, 200]).toContain(reply.status);
        // Either refused, or (when the framework resolved the dots first) the app's index page.
        if (reply.status === 200) expect(reply.body).toContain('window.__AUDITRUM_ADMIN__');
      }
    });

    it('is read-only, and leaves the routes outside its base alone', async () => {
      const post = await get(port, '/audit-admin/api/changes', STAFF, 'POST');
      expect([post.status, post.headers.allow]).toEqual([405, 'GET, HEAD']);
      const revert = await get(
        port,
        '/audit-admin/api/revert',
        { ...STAFF, 'content-type': 'application/json' },
        'POST',
      );
      expect([revert.status, JSON.parse(revert.body).error.code]).toEqual([405, 'method_not_allowed']);
      expect(JSON.parse((await get(port, '/audit-admin/api/tables', STAFF)).body).canWrite).toBe(false);
      const outside = await get(port, '/outside');
      expect([outside.status, outside.body]).toEqual([200, 'outside']);
      expect((await get(port, '/audit-adminx', STAFF)).status).toBe(404);
    });

    it('works under another mount path, and injects publicPath when a proxy adds a prefix', async () => {
      const nested = await start('/internal/audit');
      const page = await get(nested, '/internal/audit/', STAFF);
      expect(page.body).toContain('<base href="/internal/audit/">');
      expect((await get(nested, '/internal/audit/api/tables', STAFF)).status).toBe(200);
      const proxied = await start('/audit-admin', '/tools/audit-admin');
      const behindProxy = await get(proxied, '/audit-admin/changes/1', STAFF);
      expect(behindProxy.body).toContain(
        '<base href="/tools/audit-admin/"><script>window.__AUDITRUM_ADMIN__ = {"basePath":"/tools/audit-admin","apiLog":true}</script>',
      );
    });

    // Last: it writes to the items the other cases count.
    it('takes writes with authorizeWrite: the JSON body (streamed or parsed by the app), cross-site refused, as the admin user', async () => {
      const { rows } = await pool.query<{ id: string }>(
        `SELECT id::text FROM auditrum.changes WHERE operation = 'UPDATE' AND row_key = '1' ORDER BY id`,
      );
      const change = rows[0]?.id as string;
      for (const bodyParser of [false, true]) {
        const writable = await start('/audit-admin', undefined, { writable: true, bodyParser });
        const origin = `http://127.0.0.1:${writable}`;
        const json = { 'content-type': 'application/json' };
        const post = (body: unknown, headers: Record<string, string> = {}, user = 'writer') =>
          get(
            writable,
            '/audit-admin/api/revert',
            { 'x-test-user': user, origin, ...json, ...headers },
            'POST',
            typeof body === 'string' ? body : JSON.stringify(body),
          );
        const tables = await get(writable, '/audit-admin/api/tables', { 'x-test-user': 'writer' });
        expect(JSON.parse(tables.body).canWrite).toBe(true);
        const dryRun = await post({ change, dryRun: true });
        expect([bodyParser, dryRun.status]).toEqual([bodyParser, 200]);
        expect(JSON.parse(dryRun.body).plan.statements[0].diff).toEqual([
          { column: 'name', from: 'renamed', to: 'item 1' },
        ]);
        const refusals: [Record<string, string>, string, number, string][] = [
          [{ origin: 'https://evil.example' }, 'writer', 403, 'cross_site'],
          [{ 'sec-fetch-site': 'cross-site' }, 'writer', 403, 'cross_site'],
          [{ 'content-type': 'application/x-www-form-urlencoded' }, 'writer', 415, 'unsupported_media_type'],
          [{ 'content-type': 'text/plain' }, 'writer', 415, 'unsupported_media_type'],
          [{}, 'staff', 403, 'forbidden'],
        ];
        for (const [headers, user, status, code] of refusals) {
          const reply = await post({ change, reason: 'forged' }, headers, user);
          expect([bodyParser, headers, reply.status, JSON.parse(reply.body).error.code]).toEqual([
            bodyParser,
            headers,
            status,
            code,
          ]);
        }
        const huge = await post({ change, reason: 'x'.repeat(20_000) });
        expect([huge.status, JSON.parse(huge.body).error.code]).toEqual([413, 'payload_too_large']);
        const typo = await post({ change, reason: 'x', dryrun: true });
        expect([typo.status, JSON.parse(typo.body).error.parameter]).toEqual([400, 'dryrun']);
        expect((await post('{"change":')).status).toBe(400);
      }
      expect((await pool.query(`SELECT name FROM items WHERE id = 1`)).rows).toEqual([{ name: 'renamed' }]);
      const writable = await start('/audit-admin', undefined, { writable: true });
      const reverted = await get(
        writable,
        '/audit-admin/api/revert',
        { 'x-test-user': 'writer', 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' },
        'POST',
        JSON.stringify({ change, reason: 'renamed by mistake' }),
      );
      expect(reverted.status).toBe(200);
      expect((await pool.query(`SELECT name FROM items WHERE id = 1`)).rows).toEqual([{ name: 'item 1' }]);
      const { rows: audit } = await pool.query(
        `SELECT actor_id, context->>'actor_label' AS label, context->>'source' AS source, context->>'reason' AS reason
         FROM auditrum.changes WHERE id = ANY($1::bigint[])`,
        [JSON.parse(reverted.body).changeIds],
      );
      expect(audit).toEqual([
        { actor_id: 'admin-writer', label: 'writer', source: 'restore', reason: 'renamed by mistake' },
      ]);
    });
  });
}
