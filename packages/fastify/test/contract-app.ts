import { setChangeReason } from '@auditrum/core';
import type { AdapterUnderTest, ContractApp, ContractAppOptions } from '@auditrum/test-kit';
import { presetRequestId } from '@auditrum/test-kit';
import type Fastify from 'fastify';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { apiLogger, auditContext, auditPlugin, requestId } from '../src/index.js';
import { listenerOf } from './listener.js';

type FastifyFactory = typeof Fastify;

const REDIRECT_LOCATION = '/next;jsessionid=S3SS10N?token=abc&page=2#access_token=t0k3n';

/** The contract app (see packages/test-kit/src/adapter-contract/contract-app.ts) for a Fastify major. */
export function fastifyAdapter(name: string, factory: FastifyFactory): AdapterUnderTest {
  return { name, createApp: (options) => createApp(factory, options) };
}

function createApp(factory: FastifyFactory, { pool, audit, trustProxy, parts }: ContractAppOptions): ContractApp {
  const app = factory({ trustProxy, bodyLimit: 1024 * 1024 });
  // The host's error handler: Fastify's errors carry statusCode (400 for invalid JSON); 5xx messages stay hidden.
  app.setErrorHandler((error: { statusCode?: number; message: string }, _request, reply) => {
    const status = typeof error.statusCode === 'number' ? error.statusCode : 500;
    return reply.status(status).send({ error: status < 500 ? error.message : 'internal' });
  });
  // The stand-in for pino-http: an id set before the audit plugin, by a hook registered before it.
  app.addHook('onRequest', (request, _reply, done) => {
    const preset = request.headers['x-test-preset-id'];
    if (typeof preset === 'string') (request as { id: unknown }).id = presetRequestId(preset);
    done();
  });
  let plugin: ReturnType<typeof apiLogger> | undefined;
  if (audit && parts) {
    plugin = apiLogger(audit);
    app.register(requestId(audit));
    app.register(auditContext(audit));
    app.register(plugin);
  } else if (audit) {
    plugin = auditPlugin(audit);
    app.register(plugin);
  }
  // Registered after the audit plugin(s), so its hooks run after theirs, as an app's auth plugin would.
  app.register(async (shop) => routes(shop, pool));

  const ready = Promise.resolve(app.ready());
  let closing: Promise<void> | undefined;
  return {
    listener: listenerOf(app, ready),
    close: () => {
      closing ??= ready.then(() => app.close()).then(() => plugin?.close() ?? undefined);
      return closing;
    },
    stats: () => plugin?.stats() ?? { queued: 0, written: 0, dropped: 0, failed: 0 },
  };
}

function routes(shop: FastifyInstance, pool: ContractAppOptions['pool']): void {
  // Fake auth: a session lookup first, then the user, as @fastify/passport leaves it.
  shop.addHook('onRequest', async (request) => {
    await pool.query('SELECT 1');
    const header = request.headers['x-test-user'];
    if (typeof header === 'string') {
      const [id, email] = header.split('|');
      (request as FastifyRequest & { user?: unknown }).user = { id, email };
    }
  });
  // URL-encoded forms, as @fastify/formbody parses them (Fastify parses JSON and text itself).
  shop.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  shop.get<{ Params: { id: string } }>('/items/:id', async (request) => {
    const { rows } = await pool.query('SELECT id, name FROM items WHERE id = $1', [Number(request.params.id)]);
    return rows[0];
  });
  shop.put<{ Params: { id: string }; Body: { name: string } }>('/items/:id', async (request, reply) => {
    const reason = request.headers['x-test-reason'];
    if (typeof reason === 'string') setChangeReason(reason);
    const id = Number.parseInt(request.params.id, 10);
    await pool.query('UPDATE items SET name = $1 WHERE id = $2', [request.body.name, id]);
    reply.header('set-cookie', 'session=abc; HttpOnly');
    return { id, name: request.body.name, requestId: request.id, token: 'response-secret' };
  });
  shop.put<{ Params: { id: string }; Body: { name: string } }>('/items/:id/slow', async (request) => {
    await pool.query('UPDATE items SET name = $1 WHERE id = $2', [request.body.name, Number(request.params.id)]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { id: Number(request.params.id) };
  });
  shop.post<{ Params: { id: string } }>('/items/:id/fail', async (request) => {
    await pool.query('UPDATE items SET name = $1 WHERE id = $2', ['failing', Number(request.params.id)]);
    throw new Error('boom: handler failed');
  });
  shop.get('/query-keys', async (request) => ({ keys: Object.keys(request.query as object) }));
  shop.post('/echo', async (request) => {
    const body: unknown = request.body;
    const type = Array.isArray(body) ? 'array' : typeof body;
    return { type, keys: type === 'object' && body ? Object.keys(body).length : 0 };
  });
  shop.post('/binary', async (_request, reply) => {
    reply.type('application/octet-stream');
    return Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  });
  shop.get('/audit-admin/ping', async () => ({ ok: true }));
  shop.get('/redirect', async (_request, reply) => reply.redirect(REDIRECT_LOCATION));
  // A route that reads the raw request stream itself: no parser may read it first.
  shop.register(async (raw) => {
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', (_request, _payload, done) => done(null));
    raw.post('/upload', async (request) => {
      let bytes = 0;
      for await (const chunk of request.raw) bytes += (chunk as Buffer).length;
      return { bytes };
    });
    raw.post<{ Params: { id: string } }>('/items/:id/events', async (request, reply) => {
      const id = Number(request.params.id);
      reply.raw.on('finish', () => {
        pool.query('UPDATE items SET note = $1 WHERE id = $2', ['finished', id]).catch(() => undefined);
      });
      await new Promise<void>((resolve, reject) => {
        let text = '';
        request.raw.setEncoding('utf8');
        request.raw.on('data', (chunk: string) => {
          text += chunk;
        });
        request.raw.on('end', () => {
          pool.query('UPDATE items SET name = $1 WHERE id = $2', [text, id]).then(() => resolve(), reject);
        });
      });
      return { id };
    });
  });
}
