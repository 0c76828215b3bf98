import { setChangeReason } from '@auditrum/core';
import type { AdapterUnderTest, ContractApp, ContractAppOptions } from '@auditrum/test-kit';
import { presetRequestId } from '@auditrum/test-kit';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type Koa from 'koa';
import { apiLogger, auditContext, auditMiddleware, requestId } from '../src/index.js';

/** The contract app (see packages/test-kit/src/adapter-contract/contract-app.ts) for a Koa major. */
export function koaAdapter(name: string, KoaClass: typeof Koa): AdapterUnderTest {
  return { name, createApp: (options) => createApp(KoaClass, options) };
}

function createApp(KoaClass: typeof Koa, { pool, audit, trustProxy, parts }: ContractAppOptions): ContractApp {
  const app = new KoaClass({ proxy: trustProxy });
  // Errors are answered here and not printed: the contract provokes them on purpose.
  app.silent = true;
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const err = error as { status?: unknown; expose?: boolean; message: string };
      ctx.status = typeof err.status === 'number' ? err.status : 500;
      ctx.body = { error: err.expose ? err.message : 'internal' };
    }
  });
  app.use((ctx, next) => {
    const preset = ctx.get('x-test-preset-id');
    if (preset) (ctx.req as { id?: unknown }).id = presetRequestId(preset);
    return next();
  });
  let middleware: ReturnType<typeof apiLogger> | undefined;
  if (audit && parts) {
    middleware = apiLogger(audit);
    app.use(requestId(audit));
    app.use(auditContext(audit));
    app.use(middleware);
  } else if (audit) {
    middleware = auditMiddleware(audit);
    app.use(middleware);
  }

  app.use(async (ctx, next) => {
    await pool.query('SELECT 1');
    const header = ctx.get('x-test-user');
    if (header) {
      const [id, email] = header.split('|');
      ctx.state.user = { id, email };
    }
    await next();
  });
  app.use(bodyParser({ jsonLimit: '1mb', enableTypes: ['json', 'form'] }));

  const router = new Router();
  router.get('/items/:id', async (ctx) => {
    const { rows } = await pool.query('SELECT id, name FROM items WHERE id = $1', [Number(ctx.params.id)]);
    ctx.body = rows[0];
  });
  router.put('/items/:id', async (ctx) => {
    const reason = ctx.get('x-test-reason');
    if (reason) setChangeReason(reason);
    const { name } = ctx.request.body as { name: string };
    const id = Number.parseInt(String(ctx.params.id), 10);
    await pool.query('UPDATE items SET name = $1 WHERE id = $2', [name, id]);
    ctx.set('Set-Cookie', 'session=abc; HttpOnly');
    ctx.body = { id, name, requestId: ctx.state.requestId, token: 'response-secret' };
  });
  router.put('/items/:id/slow', async (ctx) => {
    const { name } = ctx.request.body as { name: string };
    await pool.query('UPDATE items SET name = $1 WHERE id = $2', [name, Number(ctx.params.id)]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    ctx.body = { id: Number(ctx.params.id) };
  });
  router.post('/items/:id/fail', async (ctx) => {
    await pool.query('UPDATE items SET name = $1 WHERE id = $2', ['failing', Number(ctx.params.id)]);
    throw new Error('boom: handler failed');
  });
  router.get('/query-keys', (ctx) => {
    ctx.body = { keys: Object.keys(ctx.query) };
  });
  router.post('/echo', (ctx) => {
    const body: unknown = ctx.request.body;
    const type = Array.isArray(body) ? 'array' : typeof body;
    ctx.body = { type, keys: type === 'object' && body ? Object.keys(body).length : 0 };
  });
  router.post('/upload', async (ctx) => {
    let bytes = 0;
    for await (const chunk of ctx.req) bytes += (chunk as Buffer).length;
    ctx.body = { bytes };
  });
  router.post('/items/:id/events', async (ctx) => {
    const id = Number(ctx.params.id);
    ctx.res.on('finish', () => {
      pool.query('UPDATE items SET note = $1 WHERE id = $2', ['finished', id]).catch(() => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      let text = '';
      ctx.req.setEncoding('utf8');
      ctx.req.on('data', (chunk: string) => {
        text += chunk;
      });
      ctx.req.on('end', () => {
        pool.query('UPDATE items SET name = $1 WHERE id = $2', [text, id]).then(() => resolve(), reject);
      });
    });
    ctx.body = { id };
  });
  router.post('/binary', (ctx) => {
    ctx.type = 'application/octet-stream';
    ctx.body = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  });
  router.get('/audit-admin/ping', (ctx) => {
    ctx.body = { ok: true };
  });
  router.get('/redirect', (ctx) => {
    ctx.redirect('/next;jsessionid=S3SS10N?token=abc&page=2#access_token=t0k3n');
  });
  app.use(router.routes());
  app.use(router.allowedMethods());

  return {
    listener: app.callback(),
    close: () => middleware?.close() ?? Promise.resolve(),
    stats: () => middleware?.stats() ?? { queued: 0, written: 0, dropped: 0, failed: 0 },
  };
}
