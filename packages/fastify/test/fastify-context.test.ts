import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { setChangeReason } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import Fastify from 'fastify';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditPlugin } from '../src/index.js';

// The audit context on a real Fastify server (its own http.Server, listen()), as the application's own role:
// what the hooks-and-AsyncLocalStorage design has to hold, beyond the adapter battery.
const db = useTestDatabase();
const role = useAppRole(db);

interface ChangeRow {
  row_key: string;
  actor_id: string | null;
  request_id: string | null;
  reason: string | null;
  route: string | null;
}

async function changesOf(key: string): Promise<ChangeRow[]> {
  const { rows } = await db.pool.query<ChangeRow>(
    `SELECT row_key, actor_id, request_id, context->>'reason' AS reason, context->>'route' AS route
     FROM auditrum.change_log WHERE table_name = 'items' AND row_key = $1 ORDER BY id`,
    [key],
  );
  return rows;
}

type WithUser = FastifyRequest & { user?: { id: string } };

/** Resolves for each caller once `count` callers are waiting: the handlers that call it run interleaved. */
function meeting(count: number): () => Promise<void> {
  let waiting: (() => void)[] = [];
  return () =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (waiting.length === count) {
        for (const release of waiting) release();
        waiting = [];
      }
    });
}

let pool: pg.Pool;
let app: FastifyInstance;
let port: number;
// Set by the preParsing hook of the request whose id it is keyed by: its body has not been read yet.
const parsing = new Map<string, () => void>();
const bothInHandler = meeting(2);

beforeAll(async () => {
  const owner = role.openPool({ max: 1 });
  await owner.query('CREATE TABLE items (id int PRIMARY KEY, name text, note text)');
  await owner.query(`INSERT INTO items SELECT g, 'item ' || g, NULL FROM generate_series(1, 20) g`);
  await db.pool.query(`SELECT auditrum.track('public.items')`);
  // Pool of 1: every query of the two interleaved requests queues behind the other's.
  pool = role.openPool({ max: 1 });
  // Behind a proxy on the same host: the tests' X-Request-Id values are used.
  app = Fastify({ trustProxy: 'loopback' });
  // Registered before the audit plugin: runs before its context opens, on every request.
  app.addHook('onRequest', async (request) => {
    const note = request.headers['x-write-before'];
    if (typeof note === 'string') await pool.query('UPDATE items SET note = $1 WHERE id = 20', [note]);
  });
  await app.register(auditPlugin({ pool, queue: { flushIntervalMs: 10 } }));
  await app.register(async (shop) => {
    // Auth after the body is read (a preHandler), and a reason taken from the parsed body (a preValidation).
    shop.addHook('preParsing', (request, _reply, payload, done) => {
      parsing.get(request.id)?.();
      done(null, payload);
    });
    shop.addHook('preValidation', (request, _reply, done) => {
      const reason = (request.body as { reason?: unknown } | undefined)?.reason;
      if (typeof reason === 'string') setChangeReason(reason);
      done();
    });
    shop.addHook('preHandler', async (request: WithUser) => {
      const user = request.headers['x-user'];
      if (typeof user === 'string') request.user = { id: user };
    });
    shop.put<{ Params: { id: string }; Body: { name: string } }>('/items/:id', async (request) => {
      if (request.headers['x-meet'] !== undefined) await bothInHandler();
      await pool.query('UPDATE items SET name = $1 WHERE id = $2', [request.body.name, Number(request.params.id)]);
      // A change after another turn of the event loop carries the same context.
      await new Promise((resolve) => setImmediate(resolve));
      await pool.query(`UPDATE items SET note = 'after' WHERE id = $1`, [Number(request.params.id)]);
      return { id: request.id };
    });
    shop.get('/noop', async () => ({ ok: true }));
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await app?.close();
});

describe('the audit context on Fastify', () => {
  it('keeps two interleaved requests apart, one body arriving late: actor, request id, reason, across awaits', async () => {
    const body = JSON.stringify({ name: 'late', reason: 'ticket a' });
    const late = new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        parsing.set('ctx-a', () => socket.write(body));
        socket.write(
          `PUT /items/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-request-id: ctx-a\r\nx-user: alice\r\nx-meet: 1\r\n` +
            `content-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
        );
      });
      let answer = '';
      socket.on('data', (chunk: Buffer) => {
        answer += chunk.toString();
      });
      socket.on('close', () => resolve(answer));
      socket.on('error', reject);
    });
    const prompt = fetch(`http://127.0.0.1:${port}/items/2`, {
      method: 'PUT',
      body: JSON.stringify({ name: 'prompt', reason: 'ticket b' }),
      headers: { 'content-type': 'application/json', 'x-request-id': 'ctx-b', 'x-user': 'bob', 'x-meet': '1' },
    });
    const [lateAnswer, promptAnswer] = await Promise.all([late, prompt]);
    expect(lateAnswer).toMatch(/^HTTP\/1\.1 200/);
    expect(await promptAnswer.json()).toEqual({ id: 'ctx-b' });
    const expected = (key: string, actor: string, id: string, reason: string) =>
      Array.from({ length: 2 }, () => ({ row_key: key, actor_id: actor, request_id: id, reason, route: '/items/:id' }));
    expect(await changesOf('1')).toEqual(expected('1', 'alice', 'ctx-a', 'ticket a'));
    expect(await changesOf('2')).toEqual(expected('2', 'bob', 'ctx-b', 'ticket b'));
  });

  it("leaves a hook registered before the plugin outside any context, on a keep-alive connection after another user's request", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const send = (method: string, path: string, headers: Record<string, string>, body?: string) =>
      new Promise<{ reused: boolean; status: number }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ reused: req.reusedSocket, status: res.statusCode ?? 0 }));
        });
        req.on('error', reject);
        req.end(body);
      });
    try {
      const first = await send(
        'PUT',
        '/items/3',
        { 'content-type': 'application/json', 'x-user': 'carol', 'x-request-id': 'keep-1' },
        JSON.stringify({ name: 'three' }),
      );
      const second = await send('GET', '/noop', { 'x-write-before': 'before-context', 'x-request-id': 'keep-2' });
      expect([first.status, second.status, second.reused]).toEqual([200, 200, true]);
    } finally {
      agent.destroy();
    }
    expect((await changesOf('3')).map((c) => [c.actor_id, c.request_id])).toEqual([
      ['carol', 'keep-1'],
      ['carol', 'keep-1'],
    ]);
    expect(await changesOf('20')).toEqual([
      { row_key: '20', actor_id: null, request_id: null, reason: null, route: null },
    ]);
  });
});
