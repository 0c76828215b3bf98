import type { Server } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../test-database.js';
import type { AdapterUnderTest, ContractApp } from './contract-app.js';
import { abortedAfter, abortedRequest, rawRequest } from './raw-http.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const LOOPBACK = /^(::ffff:)?127\.0\.0\.1$|^::1$/;

interface Running {
  app: ContractApp;
  server: Server;
  port: number;
  base: string;
}

interface ChangeRow {
  row_key: string;
  actor_id: string | null;
  request_id: string | null;
  context: Record<string, unknown>;
  new_values: Record<string, unknown> | null;
}

interface ApiRow {
  requested_at: Date;
  request_id: string;
  method: string;
  path: string;
  route: string | null;
  query: unknown;
  status: number | null;
  duration_ms: number;
  aborted: boolean;
  actor_id: string | null;
  actor_label: string | null;
  ip: string | null;
  user_agent: string | null;
  request_headers: Record<string, unknown>;
  response_headers: Record<string, unknown> | null;
  request_body: unknown;
  response_body: unknown;
  error: string | null;
}

/**
 * The adapter contract: the same cases against any framework's app (see contract-app.ts), over real HTTP and
 * a real PostgreSQL with a tracked table. Call it at the top level of a test file.
 */
export function runAdapterContract(adapter: AdapterUnderTest): void {
  describe(`adapter contract: ${adapter.name}`, () => {
    const db = useTestDatabase();
    const errors: unknown[] = [];
    let pool: pg.Pool;
    let audited: Running;
    let trusting: Running;
    let bare: Running;
    let parted: Running;

    const auditOptions = () => ({
      pool,
      queue: { flushIntervalMs: 10 },
      mask: { keys: ['pin'], paths: ['profile.phone'] },
      bodies: { maxBytes: 2048 },
      onError: (error: unknown) => errors.push(error),
    });

    async function start(
      audit: Record<string, unknown> | undefined,
      trustProxy: boolean,
      parts = false,
      appPool = pool,
    ): Promise<Running> {
      const app = adapter.createApp({ pool: appPool, audit, trustProxy, parts });
      const server = createServer(app.listener);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      return { app, server, port, base: `http://127.0.0.1:${port}` };
    }

    async function stop(running: Running | undefined): Promise<void> {
      if (!running) return;
      running.server.closeAllConnections();
      await new Promise((resolve) => running.server.close(resolve));
      await running.app.close();
    }

    beforeAll(async () => {
      await db.pool.query('CREATE TABLE items (id int PRIMARY KEY, name text, note text)');
      await db.pool.query(`INSERT INTO items SELECT g, 'item ' || g, NULL FROM generate_series(1, 200) g`);
      await db.pool.query(`SELECT auditrum.track('public.items')`);
      pool = db.openPool({ max: 2 });
      audited = await start(auditOptions(), false);
      trusting = await start(auditOptions(), true);
      bare = await start(undefined, false);
      // Behind a proxy it trusts, so that its inbound ids are used.
      parted = await start(auditOptions(), true, true);
    });

    afterAll(async () => {
      await stop(audited);
      await stop(trusting);
      await stop(bare);
      await stop(parted);
      await pool?.end();
    });

    async function changesOf(requestId: string): Promise<ChangeRow[]> {
      const { rows } = await db.pool.query<ChangeRow>(
        `SELECT row_key, actor_id, request_id, context, new_values FROM auditrum.change_log
         WHERE table_name = 'items' AND request_id = $1 ORDER BY id`,
        [requestId],
      );
      return rows;
    }

    async function apiRows(requestId: string): Promise<ApiRow[]> {
      const { rows } = await db.pool.query<ApiRow>(
        `SELECT requested_at, request_id, method, path, route, query, status, duration_ms, aborted, actor_id,
           actor_label, ip, user_agent, request_headers, response_headers, request_body, response_body, error
         FROM auditrum.api_requests WHERE request_id = $1`,
        [requestId],
      );
      return rows;
    }

    /** Waits for the one API row of a request (the log is written off the request path). */
    async function apiRow(requestId: string): Promise<ApiRow> {
      await expect.poll(() => apiRows(requestId).then((rows) => rows.length)).toBe(1);
      return (await apiRows(requestId))[0] as ApiRow;
    }

    function json(body: unknown, headers: Record<string, string> = {}): RequestInit {
      return { body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } };
    }

    async function call(running: Running, method: string, path: string, init: RequestInit = {}): Promise<Response> {
      return fetch(`${running.base}${path}`, { method, ...init });
    }

    /** The same request to the bare app and to the audited app: the answers must match. */
    async function sameAnswer(method: string, path: string, init: () => RequestInit): Promise<string> {
      const plain = await call(bare, method, path, init());
      const withAudit = await call(audited, method, path, init());
      expect({ status: withAudit.status, body: await withAudit.text() }).toEqual({
        status: plain.status,
        body: await plain.text(),
      });
      const id = withAudit.headers.get('x-request-id');
      expect(id).toMatch(UUID_V7);
      return id as string;
    }

    describe('request ids', () => {
      it('use a valid inbound X-Request-Id from a proxy the app trusts, echo it and expose it, and store it with the changes and the API row', async () => {
        const res = await call(trusting, 'PUT', '/items/1', json({ name: 'one' }, { 'x-request-id': 'contract-id-1' }));
        expect(res.status).toBe(200);
        expect(res.headers.get('x-request-id')).toBe('contract-id-1');
        expect(await res.json()).toMatchObject({ id: 1, name: 'one', requestId: 'contract-id-1' });
        expect((await changesOf('contract-id-1')).map((c) => c.row_key)).toEqual(['1']);
        expect((await apiRow('contract-id-1')).path).toBe('/items/1');
      });

      it('give a fresh id instead of the X-Request-Id of a client the app does not trust as a proxy (the default), keeping the header in the API row', async () => {
        // The client could send another request's id, so that the request page and undo of a request join the two.
        const res = await call(
          audited,
          'PUT',
          '/items/7',
          json({ name: 'seven' }, { 'x-request-id': 'contract-id-1' }),
        );
        expect(res.status).toBe(200);
        const id = res.headers.get('x-request-id') as string;
        expect(id).toMatch(UUID_V7);
        expect(await res.json()).toMatchObject({ requestId: id });
        expect((await changesOf(id)).map((c) => [c.row_key, c.new_values])).toEqual([['7', { name: 'seven' }]]);
        expect((await changesOf('contract-id-1')).map((c) => c.row_key)).not.toContain('7');
        expect((await apiRow(id)).request_headers['x-request-id']).toBe('contract-id-1');
      });

      it('follow requestId.trustInbound: true uses any valid inbound id, false none, whatever the proxy setting', async () => {
        const always = await start({ ...auditOptions(), requestId: { trustInbound: true } }, false);
        const never = await start({ ...auditOptions(), requestId: { trustInbound: false } }, true);
        try {
          const sent = (running: Running, name: string, requestId: string) =>
            call(running, 'PUT', '/items/8', json({ name }, { 'x-request-id': requestId }));
          expect((await sent(always, 'eight', 'always-8')).headers.get('x-request-id')).toBe('always-8');
          expect((await changesOf('always-8')).map((c) => c.row_key)).toEqual(['8']);
          const refused = (await sent(never, 'ocho', 'never-8')).headers.get('x-request-id') as string;
          expect(refused).toMatch(UUID_V7);
          expect(await changesOf('never-8')).toEqual([]);
          expect((await changesOf(refused)).map((c) => c.new_values)).toEqual([{ name: 'ocho' }]);
        } finally {
          await stop(always);
          await stop(never);
        }
      });

      it('replace an inbound id that is too long or unsafe with a fresh UUIDv7, used everywhere', async () => {
        for (const [i, bad] of ['x'.repeat(10_000), 'has space', 'semi;colon', '"quoted"'].entries()) {
          const res = await call(trusting, 'PUT', '/items/2', json({ name: `two-${i}` }, { 'x-request-id': bad }));
          expect(res.status).toBe(200);
          const id = res.headers.get('x-request-id') as string;
          expect(id).toMatch(UUID_V7);
          expect(await res.json()).toMatchObject({ requestId: id });
          expect(await changesOf(id)).toHaveLength(1);
          expect((await apiRow(id)).request_headers['x-request-id']).toBe(
            bad.length > 4096 ? `${bad.slice(0, 4095)}…` : bad,
          );
        }
      });

      it('refuse raw UTF-8 and CR/LF-injected ids the way the app would answer without the middleware', async () => {
        const unicode = Buffer.concat([
          Buffer.from('GET /items/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-request-id: '),
          Buffer.from('идентификатор-✓', 'utf8'),
          Buffer.from('\r\n\r\n'),
        ]);
        const plain = await rawRequest(bare.port, unicode);
        const withAudit = await rawRequest(audited.port, unicode);
        expect([withAudit.status, withAudit.body]).toEqual([plain.status, plain.body]);
        expect(withAudit.headers['x-request-id']).toMatch(UUID_V7);
        expect((await apiRow(withAudit.headers['x-request-id'] as string)).status).toBe(200);

        // A CR inside a header value is refused by Node's parser before any middleware: same answer, no row.
        const injected = Buffer.from(
          'GET /items/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-request-id: abc\rSet-Cookie: evil=1\r\n\r\n',
        );
        const plainInjected = await rawRequest(bare.port, injected);
        const auditedInjected = await rawRequest(audited.port, injected);
        expect(auditedInjected.status).toBe(plainInjected.status);
        expect(auditedInjected.headers['set-cookie']).toBeUndefined();
        // A header split into two lines is two headers: the id is the valid first part.
        const split = Buffer.from(
          'GET /items/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-request-id: split-id\r\nx-evil: 1\r\n\r\n',
        );
        expect((await rawRequest(trusting.port, split)).headers['x-request-id']).toBe('split-id');
      });
    });

    describe('composition', () => {
      it('keeps a request id set before it (pino-http with a genReqId)', async () => {
        const preset = 'pino-7f3a9c1e';
        const res = await call(audited, 'PUT', '/items/40', json({ name: 'forty' }, { 'x-test-preset-id': preset }));
        expect(res.headers.get('x-request-id')).toBe(preset);
        expect(await res.json()).toMatchObject({ requestId: preset });
        expect((await changesOf(preset)).map((c) => c.row_key)).toEqual(['40']);
        expect((await apiRow(preset)).path).toBe('/items/40');
      });

      it("gives a fresh id instead of a counter's, set before it (pino-http's default) or sent", async () => {
        // Before, pino-http's 42 was adopted: the next process's request 42 joined it on the request page and in undo.
        const cases: [string, Record<string, string>][] = [
          ['set before it', { 'x-test-preset-id': '42' }],
          ['sent', { 'x-request-id': '17' }],
          ["Fastify's own", { 'x-request-id': 'req-1b' }],
        ];
        for (const [i, [_how, headers]] of cases.entries()) {
          // From a proxy the app trusts: a counter's id is refused even there.
          const res = await call(trusting, 'PUT', '/items/43', json({ name: `forty-three ${i}` }, headers));
          const id = res.headers.get('x-request-id') as string;
          expect(id).toMatch(UUID_V7);
          expect(await res.json()).toMatchObject({ requestId: id });
          expect((await changesOf(id)).map((c) => [c.row_key, c.new_values])).toEqual([
            ['43', { name: `forty-three ${i}` }],
          ]);
          expect((await apiRow(id)).path).toBe('/items/43');
        }
        expect(await changesOf('42')).toEqual([]);
        expect(await changesOf('17')).toEqual([]);
        // A gateway's 64-bit snowflake id is no counter: kept.
        const snowflake = '1866213517930840064';
        const kept = await call(
          trusting,
          'PUT',
          '/items/44',
          json({ name: 'forty-four' }, { 'x-request-id': snowflake }),
        );
        expect(kept.headers.get('x-request-id')).toBe(snowflake);
        expect((await changesOf(snowflake)).map((c) => c.row_key)).toEqual(['44']);
      });

      it('gives the same context and API row with requestId(), auditContext() and apiLogger() installed apart', async () => {
        const res = await call(
          parted,
          'PUT',
          '/items/41?token=t',
          json(
            { name: 'forty-one', secret: 's' },
            { 'x-test-user': '11|kim@x.io', 'x-request-id': 'parts-1', 'user-agent': 'contract-agent/3' },
          ),
        );
        expect(res.status).toBe(200);
        expect(res.headers.get('x-request-id')).toBe('parts-1');
        expect(await res.json()).toMatchObject({ requestId: 'parts-1' });
        expect(await changesOf('parts-1')).toEqual([
          {
            row_key: '41',
            actor_id: '11',
            request_id: 'parts-1',
            new_values: { name: 'forty-one' },
            context: {
              actor_label: 'kim@x.io',
              source: 'http',
              method: 'PUT',
              route: '/items/:id',
              path: '/items/41',
              ip: expect.stringMatching(LOOPBACK),
              user_agent: 'contract-agent/3',
            },
          },
        ]);
        expect(await apiRow('parts-1')).toMatchObject({
          route: '/items/:id',
          query: { token: '[masked]' },
          actor_id: '11',
          actor_label: 'kim@x.io',
          request_body: { name: 'forty-one', secret: '[masked]' },
          status: 200,
        });
      });
    });

    describe('audit context in the changes', () => {
      it('carries the actor set late by auth (after a query), request id, method, route, path, ip, user agent and reason', async () => {
        const res = await call(
          audited,
          'PUT',
          '/items/5',
          json(
            { name: 'five' },
            { 'x-test-user': '7|bob@example.com', 'x-test-reason': 'ticket 12', 'user-agent': 'contract-agent/1' },
          ),
        );
        expect(res.status).toBe(200);
        const id = res.headers.get('x-request-id') as string;
        expect(await changesOf(id)).toEqual([
          {
            row_key: '5',
            actor_id: '7',
            request_id: id,
            new_values: { name: 'five' },
            context: {
              actor_label: 'bob@example.com',
              reason: 'ticket 12',
              source: 'http',
              method: 'PUT',
              route: '/items/:id',
              path: '/items/5',
              ip: expect.stringMatching(LOOPBACK),
              user_agent: 'contract-agent/1',
            },
          },
        ]);
      });

      it('takes the IP from X-Forwarded-For only when the app trusts the proxy', async () => {
        const init = (name: string) => json({ name }, { 'x-forwarded-for': '203.0.113.7' });
        const trusted = (await call(trusting, 'PUT', '/items/6', init('six'))).headers.get('x-request-id') as string;
        const untrusted = (await call(audited, 'PUT', '/items/6', init('seis'))).headers.get('x-request-id') as string;
        expect((await changesOf(trusted))[0]?.context.ip).toBe('203.0.113.7');
        expect((await apiRow(trusted)).ip).toBe('203.0.113.7');
        expect((await changesOf(untrusted))[0]?.context.ip).toMatch(LOOPBACK);
        expect((await apiRow(untrusted)).ip).toMatch(LOOPBACK);
      });

      it('keeps the requests of 50 concurrent users apart over a pool of 2 connections', async () => {
        const responses = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            call(
              audited,
              'PUT',
              `/items/${100 + i}`,
              json({ name: `n${i}` }, { 'x-test-user': `user-${i}|u${i}@x.io` }),
            ),
          ),
        );
        for (const [i, res] of responses.entries()) {
          expect(res.status).toBe(200);
          const id = res.headers.get('x-request-id') as string;
          expect(await res.json()).toMatchObject({ requestId: id, id: 100 + i });
          const changes = await changesOf(id);
          expect(changes.map((c) => [c.row_key, c.actor_id, c.context.actor_label])).toEqual([
            [String(100 + i), `user-${i}`, `u${i}@x.io`],
          ]);
          const row = await apiRow(id);
          expect([row.actor_id, row.actor_label, row.path]).toEqual([`user-${i}`, `u${i}@x.io`, `/items/${100 + i}`]);
        }
        const { rows } = await db.pool.query(
          `SELECT count(*)::int AS n FROM auditrum.change_log c JOIN auditrum.api_requests a USING (request_id)
           WHERE c.row_key::int BETWEEN 100 AND 149 AND c.actor_id IS DISTINCT FROM a.actor_id`,
        );
        expect(rows[0]).toEqual({ n: 0 });
      });

      it('keeps the users of requests pipelined on one connection apart, the first one slow', async () => {
        const put = (path: string, id: string, user: string, close: boolean) => {
          const body = JSON.stringify({ name: id });
          return (
            `PUT ${path} HTTP/1.1\r\nHost: x\r\nx-request-id: ${id}\r\nx-test-user: ${user}|${user}@x.io\r\n` +
            `content-type: application/json\r\ncontent-length: ${body.length}\r\n${close ? 'Connection: close\r\n' : ''}\r\n${body}`
          );
        };
        // One write: the second request is parsed (and its handler started) while the first one's still waits.
        const res = await rawRequest(
          trusting.port,
          Buffer.from(put('/items/32/slow', 'pipe-a', 'ann', false) + put('/items/33', 'pipe-b', 'ben', true)),
        );
        expect(res.status).toBe(200);
        await expect.poll(async () => (await changesOf('pipe-b')).length).toBe(1);
        expect((await changesOf('pipe-a')).map((c) => [c.row_key, c.actor_id])).toEqual([['32', 'ann']]);
        expect((await changesOf('pipe-b')).map((c) => [c.row_key, c.actor_id])).toEqual([['33', 'ben']]);
        expect([(await apiRow('pipe-a')).actor_id, (await apiRow('pipe-b')).actor_id]).toEqual(['ann', 'ben']);
      });

      it("carries the context to changes made in listeners of Node's request and response (end, finish)", async () => {
        // Node emits these from the connection's socket, outside the request's async context: the changes were
        // recorded with no actor and no request id. The body comes once the handler listens for it.
        const body = Buffer.from('from the stream');
        const res = await rawRequest(
          audited.port,
          Buffer.from(
            'POST /items/30/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-test-user: 12|lee@x.io\r\n' +
              `content-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n`,
          ),
          { bytes: body, afterMs: 100 },
        );
        expect(res.status).toBe(200);
        const id = res.headers['x-request-id'] as string;
        const latest = async () => {
          const { rows } = await db.pool.query<ChangeRow>(
            `SELECT row_key, actor_id, request_id, context, new_values FROM auditrum.change_log
             WHERE table_name = 'items' AND row_key = '30' ORDER BY id DESC LIMIT 2`,
          );
          return rows.reverse();
        };
        await expect
          .poll(async () => (await latest()).map((c) => c.new_values))
          .toEqual([{ name: 'from the stream' }, { note: 'finished' }]);
        expect((await latest()).map((c) => [c.actor_id, c.request_id, c.context.actor_label, c.context.route])).toEqual(
          [
            ['12', id, 'lee@x.io', '/items/:id/events'],
            ['12', id, 'lee@x.io', '/items/:id/events'],
          ],
        );
      });
    });

    describe('the API-request log', () => {
      it('stores one masked row per request, linked to its changes by request id', async () => {
        const res = await call(audited, 'PUT', '/items/10?page=2&Token=abc', {
          body: JSON.stringify({ name: 'ten', Password: 'hunter2', profile: { phone: '+1 555', city: 'Oslo' } }),
          headers: {
            'content-type': 'application/json',
            authorization: 'Bearer secret-token',
            cookie: 'sid=s3cr3t',
            'x-test-user': '8|carol@example.com',
            'user-agent': 'contract-agent/2',
          },
        });
        expect(res.status).toBe(200);
        const id = res.headers.get('x-request-id') as string;
        const row = await apiRow(id);
        expect(row).toEqual({
          requested_at: expect.any(Date),
          request_id: id,
          method: 'PUT',
          path: '/items/10',
          route: '/items/:id',
          query: { page: '2', Token: '[masked]' },
          status: 200,
          duration_ms: expect.any(Number),
          aborted: false,
          actor_id: '8',
          actor_label: 'carol@example.com',
          ip: expect.stringMatching(LOOPBACK),
          user_agent: 'contract-agent/2',
          request_headers: expect.objectContaining({
            authorization: '[masked]',
            cookie: '[masked]',
            'content-type': 'application/json',
            'user-agent': 'contract-agent/2',
          }),
          response_headers: expect.objectContaining({ 'set-cookie': '[masked]', 'x-request-id': id }),
          request_body: { name: 'ten', Password: '[masked]', profile: { phone: '[masked]', city: 'Oslo' } },
          response_body: { id: 10, name: 'ten', requestId: id, token: '[masked]' },
          error: null,
        });
        expect(row.duration_ms).toBeGreaterThanOrEqual(0);
        expect(Math.abs(row.requested_at.getTime() - Date.now())).toBeLessThan(60_000);
        const linked = await db.pool.query(
          `SELECT c.row_key, a.path FROM auditrum.change_log c JOIN auditrum.api_requests a USING (request_id)
           WHERE a.request_id = $1`,
          [id],
        );
        expect(linked.rows).toEqual([{ row_key: '10', path: '/items/10' }]);
        const stored = JSON.stringify(row);
        for (const secret of ['hunter2', 'secret-token', 's3cr3t', '+1 555', 'response-secret', 'abc"']) {
          expect(stored).not.toContain(secret);
        }
      });

      it('stores no bodies for GET by default, and leaves the admin path out', async () => {
        const admin = await call(audited, 'GET', '/audit-admin/ping');
        expect(admin.status).toBe(200);
        const adminId = admin.headers.get('x-request-id') as string;
        const res = await call(audited, 'GET', '/items/11');
        expect(await res.json()).toEqual({ id: 11, name: 'item 11' });
        const row = await apiRow(res.headers.get('x-request-id') as string);
        expect(row).toMatchObject({
          method: 'GET',
          route: '/items/:id',
          status: 200,
          request_body: null,
          response_body: null,
        });
        // Rows are written in order: the later request's row is there, so the admin's would be too.
        expect(await apiRows(adminId)).toEqual([]);
      });

      it('masks form bodies, nested and differently cased keys, configured keys and paths', async () => {
        const form = await call(audited, 'POST', '/echo', {
          body: 'user=dan&PASSWORD=pw1&user[api_key]=k1&pin=1234&note=ok',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        expect(form.status).toBe(200);
        expect((await apiRow(form.headers.get('x-request-id') as string)).request_body).toEqual({
          user: 'dan',
          PASSWORD: '[masked]',
          'user[api_key]': '[masked]',
          pin: '[masked]',
          note: 'ok',
        });
        const nested = await call(
          audited,
          'POST',
          '/echo',
          json({
            a: [{ b: { accessToken: 't1', Refresh_Token: 't2', creditCard: '4111', ok: 1 } }],
            CVV: '123',
            SSN: 'x',
          }),
        );
        expect((await apiRow(nested.headers.get('x-request-id') as string)).request_body).toEqual({
          a: [{ b: { accessToken: '[masked]', Refresh_Token: '[masked]', creditCard: '[masked]', ok: 1 } }],
          CVV: '[masked]',
          SSN: '[masked]',
        });
      });

      it('masks keys in any case and with any separators, and the other credentials that used to leak', async () => {
        const body = {
          passWord: 'l1',
          pass_word: 'l2',
          passwd: 'l3',
          pwd: 'l4',
          private_key: 'l5',
          privateKey: 'l6',
          session_id: 'l7',
          sessionId: 'l8',
          otp: 'l9',
          pin: 'l10',
          jwt: 'l11',
          bearer: 'l12',
          credentials: { user: 'u', secret: 'l13' },
          cookie: 'sid=l14',
          newPassword2: 'l15',
          payload: JSON.stringify({ user: 'u', password: 'l16', items: [1] }),
          callback: 'https://cb.example/done?state=1&access_token=l17',
          tokens_count: 3,
          shipping: 'kept',
        };
        const res = await call(audited, 'POST', '/echo', json(body));
        expect(res.status).toBe(200);
        const row = await apiRow(res.headers.get('x-request-id') as string);
        expect(row.request_body).toEqual({
          ...Object.fromEntries(Object.keys(body).map((key) => [key, '[masked]'])),
          payload: JSON.stringify({ user: 'u', password: '[masked]', items: [1] }),
          callback: 'https://cb.example/done?state=1&access_token=[masked]',
          tokens_count: 3,
          shipping: 'kept',
        });
        const stored = JSON.stringify(row);
        for (let i = 1; i <= 17; i++) expect(stored).not.toContain(`"l${i}"`);

        const form = await call(audited, 'POST', '/echo', {
          body: 'Pass_Word=f1&pass-word=f2&user=kim',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        expect((await apiRow(form.headers.get('x-request-id') as string)).request_body).toEqual({
          Pass_Word: '[masked]',
          'pass-word': '[masked]',
          user: 'kim',
        });
        // Form text sent as text/plain stays text, its secrets masked.
        const text = await call(audited, 'POST', '/upload', {
          body: 'user=kim&password=t1&otp=t2',
          headers: { 'content-type': 'text/plain' },
        });
        expect(await text.json()).toEqual({ bytes: 27 });
        expect((await apiRow(text.headers.get('x-request-id') as string)).request_body).toBe(
          'user=kim&password=[masked]&otp=[masked]',
        );
      });

      it('masks secrets in every URL it stores: path parameters, Referer, Origin, Location, query values', async () => {
        const res = await call(audited, 'GET', '/nowhere;jsessionid=P4TH;token=p2?next=%2Fcb%3Ftoken%3Dq1&page=2', {
          headers: {
            referer: 'https://app.example/reset?token=r1&step=2',
            origin: 'https://user:o1@app.example',
            'x-session-id': 'h1',
            'x-forwarded-uri': '/login;sid=h2',
            accept: 'text/html;q=0.9,*/*;q=0.8',
          },
        });
        expect(res.status).toBe(404);
        const row = await apiRow(res.headers.get('x-request-id') as string);
        expect(row.path).toBe('/nowhere;jsessionid=[masked];token=[masked]');
        expect(row.query).toEqual({ next: '/cb?token=[masked]', page: '2' });
        expect(row.request_headers).toMatchObject({
          referer: 'https://app.example/reset?token=[masked]&step=2',
          origin: 'https://user:[masked]@app.example',
          'x-session-id': '[masked]',
          'x-forwarded-uri': '/login;sid=[masked]',
          accept: 'text/html;q=0.9,*/*;q=0.8',
        });
        // The path stored with the changes too.
        const put = await call(audited, 'PUT', '/items/14;jsessionid=C7X;token=p3', json({ name: 'fourteen' }));
        expect(put.status).toBe(200);
        const putId = put.headers.get('x-request-id') as string;
        expect((await changesOf(putId)).map((c) => [c.row_key, c.context.path])).toEqual([
          ['14', '/items/14;jsessionid=[masked];token=[masked]'],
        ]);
        expect((await apiRow(putId)).path).toBe('/items/14;jsessionid=[masked];token=[masked]');
        const redirect = await call(audited, 'GET', '/redirect', { redirect: 'manual' });
        expect(redirect.status).toBe(302);
        expect(redirect.headers.get('location')).toBe('/next;jsessionid=S3SS10N?token=abc&page=2#access_token=t0k3n');
        const redirected = await apiRow(redirect.headers.get('x-request-id') as string);
        expect(redirected.response_headers?.location).toBe(
          '/next;jsessionid=[masked]?token=[masked]&page=2#access_token=[masked]',
        );
        for (const secret of ['P4TH', 'p2', 'q1', 'r1', 'o1', 'h1', 'h2', 'S3SS10N', 't0k3n', 'C7X', 'p3']) {
          const stored = JSON.stringify([row, redirected, await apiRow(putId), await changesOf(putId)]);
          expect(stored).not.toMatch(new RegExp(`[=:"]${secret}["&;#@]`));
        }
      });

      it('masks what a reader that also splits fields at ; takes for a sensitive one, in the query and in a form', async () => {
        const res = await call(audited, 'GET', '/query-keys?a=1;password=p5;b=2&c;secret=s6&d=x%3Btoken%3Dp7&pin=1');
        expect(res.status).toBe(200);
        // The framework splits at & only, as browsers and URLSearchParams do: `;` stays in the names and values.
        expect(await res.json()).toEqual({ keys: ['a', 'c;secret', 'd', 'pin'] });
        const row = await apiRow(res.headers.get('x-request-id') as string);
        expect(row.query).toEqual({
          a: '1;password=[masked];b=2',
          'c;secret': '[masked]',
          d: 'x;token=[masked]',
          pin: '[masked]',
        });
        const form = await call(audited, 'POST', '/echo', {
          body: 'a=1;pin=p8;ok=2&note;api_key=p9&name=n',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        expect(form.status).toBe(200);
        const formRow = await apiRow(form.headers.get('x-request-id') as string);
        expect(formRow.request_body).toEqual({ a: '1;pin=[masked];ok=2', 'note;api_key': '[masked]', name: 'n' });
        for (const secret of ['p5', 's6', 'p7', 'p8', 'p9']) {
          expect(JSON.stringify([row, formRow])).not.toContain(secret);
        }
      });

      it('stores a body over the size limit truncated, with a masked preview', async () => {
        const big = { password: 'hunter2', filler: 'x'.repeat(5000), name: 'big' };
        const res = await call(audited, 'POST', '/echo', json(big));
        expect(await res.json()).toEqual({ type: 'object', keys: 3 });
        const row = await apiRow(res.headers.get('x-request-id') as string);
        const text = JSON.stringify(big);
        expect(row.request_body).toEqual({
          $auditrum: 'truncated',
          bytes: text.length,
          preview: text.slice(0, 2048).replace('"hunter2"', '"[masked]"'),
        });
      });

      it('describes binary request and response bodies instead of storing them', async () => {
        const upload = await call(audited, 'POST', '/upload', {
          body: new Uint8Array([0, 1, 2, 3, 255, 254]),
          headers: { 'content-type': 'application/octet-stream' },
        });
        expect(await upload.json()).toEqual({ bytes: 6 });
        expect((await apiRow(upload.headers.get('x-request-id') as string)).request_body).toEqual({
          $auditrum: 'binary',
          contentType: 'application/octet-stream',
          bytes: 6,
        });
        const download = await call(audited, 'POST', '/binary');
        expect((await download.arrayBuffer()).byteLength).toBe(256);
        expect((await apiRow(download.headers.get('x-request-id') as string)).response_body).toEqual({
          $auditrum: 'binary',
          contentType: 'application/octet-stream',
          bytes: 256,
        });
      });

      it('logs requests aborted by the client, with what is known, and keeps the context of their changes', async () => {
        const body = JSON.stringify({ name: 'slow' });
        await abortedRequest(
          trusting.port,
          `PUT /items/20/slow HTTP/1.1\r\nHost: x\r\nx-request-id: aborted-1\r\nx-test-user: 9|eve@x.io\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
          body,
          100,
        );
        const row = await apiRow('aborted-1');
        expect(row).toMatchObject({
          request_id: 'aborted-1',
          method: 'PUT',
          path: '/items/20/slow',
          route: '/items/:id/slow',
          status: null,
          aborted: true,
          actor_id: '9',
          request_body: { name: 'slow' },
          response_body: null,
        });
        expect((await changesOf('aborted-1')).map((c) => [c.row_key, c.actor_id])).toEqual([['20', '9']]);

        // Aborted while the body is still being sent: the handler never runs; the row is written all the same.
        await abortedRequest(
          trusting.port,
          'POST /echo HTTP/1.1\r\nHost: x\r\nx-request-id: aborted-2\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n',
          '{"password":"hunter2","x":"',
          50,
        );
        const early = await apiRow('aborted-2');
        expect(early).toMatchObject({ aborted: true, path: '/echo' });
        expect(JSON.stringify(early)).not.toContain('hunter2');
      });

      it('gives aborted requests the actor and route their changes carry, over a pool of 1 with queued work', async () => {
        // Pool of 1: auth's first query waits behind the other requests', so some are aborted before auth set the
        // user and their handler (and change) runs after the abort; others are aborted after their change.
        const single = new pg.Pool({ connectionString: db.url, max: 1 });
        single.on('error', () => undefined);
        const app = await start({ ...auditOptions(), pool: single }, true, false, single);
        try {
          const head = (k: number, body: string) =>
            `PUT /items/${60 + k}/slow HTTP/1.1\r\nHost: x\r\nx-request-id: pool1-${k}\r\n` +
            `x-test-user: p1-${k}|p${k}@x.io\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`;
          await Promise.all(
            Array.from({ length: 12 }, async (_, k) => {
              const body = JSON.stringify({ name: `pool1-${k}` });
              if (k % 3 === 0) {
                const res = await rawRequest(
                  app.port,
                  Buffer.from(`${head(k, body).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}${body}`),
                );
                expect(res.status).toBe(200);
              } else if (k % 3 === 1) {
                // Aborted as soon as sent: auth has not run yet.
                await abortedRequest(app.port, head(k, body), body, 5);
              } else {
                // Aborted while the handler waits, after auth and after its change.
                await abortedAfter(app.port, head(k, body) + body, () =>
                  changesOf(`pool1-${k}`).then((c) => c.length > 0),
                );
              }
            }),
          );
          // The actor auth set, on every row: those aborted before auth got it after the abort, and those whose
          // handler ran have the change's actor and route. (A request aborted before its body was read fails in
          // the body parser, after auth: it has no change and no route.)
          for (let k = 0; k < 12; k++) {
            const row = await apiRow(`pool1-${k}`);
            const changes = await changesOf(`pool1-${k}`);
            expect({ k, aborted: row.aborted, actor: row.actor_id, label: row.actor_label }).toEqual({
              k,
              aborted: k % 3 !== 0,
              actor: `p1-${k}`,
              label: `p${k}@x.io`,
            });
            if (k % 3 !== 1) expect(changes).toHaveLength(1);
            for (const change of changes) {
              expect([change.actor_id, change.context.actor_label, change.context.route]).toEqual([
                row.actor_id,
                row.actor_label,
                row.route,
              ]);
            }
          }
          const { rows } = await db.pool.query(
            `SELECT count(*)::int AS n FROM auditrum.change_log c JOIN auditrum.api_requests a USING (request_id)
             WHERE starts_with(a.request_id, 'pool1-')
               AND (c.actor_id IS DISTINCT FROM a.actor_id OR c.context->>'route' IS DISTINCT FROM a.route)`,
          );
          expect(rows[0]).toEqual({ n: 0 });
        } finally {
          await stop(app);
          await single.end();
        }
      });

      it('stores the message of an error thrown by a handler, with status 500', async () => {
        const res = await call(audited, 'POST', '/items/21/fail', json({}, { 'x-test-user': '3|fay@x.io' }));
        expect(res.status).toBe(500);
        const id = res.headers.get('x-request-id') as string;
        expect(await apiRow(id)).toMatchObject({
          status: 500,
          error: 'boom: handler failed',
          route: '/items/:id/fail',
          actor_id: '3',
          aborted: false,
        });
        expect((await changesOf(id)).map((c) => [c.row_key, c.actor_id, c.new_values])).toEqual([
          ['21', '3', { name: 'failing' }],
        ]);
      });
    });

    describe('bad input', () => {
      it('invalid JSON: the same answer as without the middleware, a row with a masked preview', async () => {
        const id = await sameAnswer('POST', '/echo', () => ({
          body: '{"password":"hunter2", oops',
          headers: { 'content-type': 'application/json' },
        }));
        const row = await apiRow(id);
        expect(row.status).toBe(400);
        expect(row.request_body).toEqual({ $auditrum: 'invalid-json', preview: '{"password":"[masked]", oops' });
      });

      it('compressed bodies (gzip, deflate, br): the same answer, stored decoded and masked', async () => {
        // Stored as the compressed bytes seen on the wire before: an invalid-json marker with a preview of them.
        const codings = { gzip: gzipSync, deflate: deflateSync, br: brotliCompressSync } as const;
        for (const [coding, compress] of Object.entries(codings)) {
          const body = compress(JSON.stringify({ user: coding, password: 'hunter2' }));
          const id = await sameAnswer('POST', '/echo', () => ({
            body,
            headers: { 'content-type': 'application/json', 'content-encoding': coding },
          }));
          const row = await apiRow(id);
          // An app that does not decompress (Fastify) answers 400; when its parser read the body as text, the bytes
          // are lost (and counted as that text) and the body is described instead.
          const lost = row.status !== 200 && JSON.stringify(row.request_body).includes('"$auditrum"');
          expect(row.request_body).toEqual(
            lost
              ? {
                  $auditrum: 'binary',
                  contentType: 'application/json',
                  contentEncoding: coding,
                  bytes: expect.any(Number),
                }
              : { user: coding, password: '[masked]' },
          );
        }
        // A body that is not compressed as it says is stored as it is; a coding that cannot be read is described.
        const plain = await sameAnswer('POST', '/echo', () => ({
          body: '{"password":"hunter2"}',
          headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        }));
        expect((await apiRow(plain)).request_body).toEqual({ password: '[masked]' });
        const unknown = await sameAnswer('POST', '/echo', () => ({
          body: '{"password":"hunter2"}',
          headers: { 'content-type': 'application/json', 'content-encoding': 'compress' },
        }));
        expect((await apiRow(unknown)).request_body).toEqual({
          $auditrum: 'binary',
          contentType: 'application/json',
          contentEncoding: 'compress',
          bytes: 22,
        });
      });

      it('non-UTF-8 bytes: the same answer, stored with replacement characters', async () => {
        const bytes = () =>
          Buffer.concat([Buffer.from('{"name":"a'), Buffer.from([0xff, 0xfe, 0x00]), Buffer.from('b"}')]);
        const id = await sameAnswer('POST', '/echo', () => ({
          body: bytes(),
          headers: { 'content-type': 'application/json' },
        }));
        const row = await apiRow(id);
        expect(JSON.stringify(row.request_body)).not.toContain('\\u0000');
        const text = await sameAnswer('POST', '/upload', () => ({
          body: Buffer.from([0x68, 0x69, 0xc3, 0x28, 0x00]),
          headers: { 'content-type': 'text/plain' },
        }));
        expect((await apiRow(text)).request_body).toBe('hi\ufffd(\ufffd');
      });

      it('odd query strings: the same answer, stored decoded where possible, cleaned and masked', async () => {
        const id = await sameAnswer(
          'GET',
          '/items/31?q=%ZZ&nul=%00x&bad=%FF&__proto__=1&Password=%70w&q=2',
          () => ({}),
        );
        const row = await apiRow(id);
        expect(row.query).toEqual(
          JSON.parse('{"q":["%ZZ","2"],"nul":"\\ufffdx","bad":"\\ufffd","__proto__":"1","Password":"[masked]"}'),
        );
        expect(row.path).toBe('/items/31');
      });

      it('huge headers: the same answer, a row with capped values, credentials masked', async () => {
        const id = await sameAnswer('GET', '/items/30', () => ({
          headers: { 'x-big': 'y'.repeat(12_000), authorization: `Bearer ${'z'.repeat(3000)}` },
        }));
        const row = await apiRow(id);
        expect(row.request_headers['x-big']).toBe(`${'y'.repeat(4095)}…`);
        expect(row.request_headers.authorization).toBe('[masked]');
        // Over Node's header limit the server itself answers 431, with or without the middleware.
        const tooBig = await sameAnswerStatus('GET', '/items/30', { 'x-big': 'y'.repeat(20_000) });
        expect(tooBig).toBe(431);
      });

      it('deeply nested JSON: the same answer, stored with its depth bounded and nothing unmasked', async () => {
        const nested = `${'['.repeat(600)}{"password":"hunter2"}${']'.repeat(600)}`;
        const id = await sameAnswer('POST', '/echo', () => ({
          body: nested,
          headers: { 'content-type': 'application/json' },
        }));
        const stored = JSON.stringify((await apiRow(id)).request_body);
        expect(stored).toContain('"$auditrum":"too-deep"');
        expect(stored).not.toContain('hunter2');
        // Over the size limit: stored truncated, its preview masked.
        const deep = `${'{"password":"hunter2","a":'.repeat(3000)}1${'}'.repeat(3000)}`;
        const huge = await sameAnswer('POST', '/echo', () => ({
          body: deep,
          headers: { 'content-type': 'application/json' },
        }));
        const truncated = (await apiRow(huge)).request_body as { $auditrum: string; bytes: number; preview: string };
        expect(truncated).toMatchObject({ $auditrum: 'truncated', bytes: deep.length });
        expect(truncated.preview).toContain('{"password":"[masked]","a":{"password":"[masked]"');
        expect(truncated.preview).not.toContain('hunter2');
      });

      it('lost nothing and reported no error', async () => {
        await audited.app.close();
        expect(audited.app.stats()).toMatchObject({ dropped: 0, failed: 0, queued: 0 });
        expect(errors).toEqual([]);
      });
    });

    async function sameAnswerStatus(method: string, path: string, headers: Record<string, string>): Promise<number> {
      const plain = await call(bare, method, path, { headers });
      const withAudit = await call(audited, method, path, { headers });
      expect(withAudit.status).toBe(plain.status);
      return withAudit.status;
    }
  });
}
