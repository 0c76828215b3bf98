import { setChangeReason } from '@auditrum/core';
import type { AdapterUnderTest, ContractApp, ContractAppOptions } from '@auditrum/test-kit';
import { presetRequestId } from '@auditrum/test-kit';
import type express from 'express';
import type { ErrorRequestHandler, Express, Request } from 'express';
import { apiLogger, auditContext, auditMiddleware, requestId } from '../src/index.js';

type ExpressFactory = typeof express;

const REDIRECT_LOCATION = '/next;jsessionid=S3SS10N?token=abc&page=2#access_token=t0k3n';

/** The contract app (see packages/test-kit/src/adapter-contract/contract-app.ts) for an Express major. */
export function expressAdapter(name: string, factory: ExpressFactory): AdapterUnderTest {
  return { name, createApp: (options) => createApp(factory, options) };
}

function createApp(factory: ExpressFactory, { pool, audit, trustProxy, parts }: ContractAppOptions): ContractApp {
  const app: Express = factory();
  app.set('trust proxy', trustProxy);
  app.use((req, _res, next) => {
    const preset = req.headers['x-test-preset-id'];
    if (typeof preset === 'string') (req as { id: unknown }).id = presetRequestId(preset);
    next();
  });
  let middleware: ReturnType<typeof apiLogger> | undefined;
  if (audit && parts) {
    middleware = apiLogger(audit);
    app.use(requestId(audit), auditContext(audit), middleware);
  } else if (audit) {
    middleware = auditMiddleware(audit);
    app.use(middleware);
  }

  app.use((req, _res, next) => {
    pool.query('SELECT 1').then(() => {
      const header = req.headers['x-test-user'];
      if (typeof header === 'string') {
        const [id, email] = header.split('|');
        (req as Request & { user?: unknown }).user = { id, email };
      }
      next();
    }, next);
  });
  app.use(factory.json({ limit: '1mb' }));
  app.use(factory.urlencoded({ extended: false }));

  app.get('/items/:id', (req, res, next) => {
    pool.query('SELECT id, name FROM items WHERE id = $1', [Number(req.params.id)]).then(({ rows }) => {
      res.json(rows[0]);
    }, next);
  });
  app.put('/items/:id', (req, res, next) => {
    const reason = req.headers['x-test-reason'];
    if (typeof reason === 'string') setChangeReason(reason);
    const id = Number.parseInt(String(req.params.id), 10);
    pool.query('UPDATE items SET name = $1 WHERE id = $2', [req.body.name, id]).then(() => {
      res.setHeader('Set-Cookie', 'session=abc; HttpOnly');
      res.json({ id, name: req.body.name, requestId: req.id, token: 'response-secret' });
    }, next);
  });
  app.put('/items/:id/slow', (req, res, next) => {
    pool
      .query('UPDATE items SET name = $1 WHERE id = $2', [req.body.name, Number(req.params.id)])
      .then(() => new Promise((resolve) => setTimeout(resolve, 300)))
      .then(() => res.json({ id: Number(req.params.id) }), next);
  });
  app.post('/items/:id/fail', (req, _res, next) => {
    pool.query('UPDATE items SET name = $1 WHERE id = $2', ['failing', Number(req.params.id)]).then(() => {
      next(new Error('boom: handler failed'));
    }, next);
  });
  app.get('/query-keys', (req, res) => {
    res.json({ keys: Object.keys(req.query) });
  });
  app.post('/echo', (req, res) => {
    const body: unknown = req.body;
    const type = Array.isArray(body) ? 'array' : typeof body;
    res.json({ type, keys: type === 'object' && body ? Object.keys(body).length : 0 });
  });
  app.post('/upload', (req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    req.on('end', () => res.json({ bytes }));
  });
  app.post('/items/:id/events', (req, res, next) => {
    const id = Number(req.params.id);
    res.on('finish', () => {
      pool.query('UPDATE items SET note = $1 WHERE id = $2', ['finished', id]).catch(() => undefined);
    });
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
    });
    req.on('end', () => {
      pool.query('UPDATE items SET name = $1 WHERE id = $2', [text, id]).then(() => res.json({ id }), next);
    });
  });
  app.post('/binary', (_req, res) => {
    res.type('application/octet-stream').send(Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
  });
  app.get('/audit-admin/ping', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/redirect', (_req, res) => {
    res.redirect(302, REDIRECT_LOCATION);
  });

  const onError: ErrorRequestHandler = (err, _req, res, _next) => {
    res.err = err;
    const status = typeof err.status === 'number' ? err.status : 500;
    res.status(status).json({ error: err.expose ? err.message : 'internal' });
  };
  app.use(onError);

  return {
    listener: app,
    close: () => middleware?.close() ?? Promise.resolve(),
    stats: () => middleware?.stats() ?? { queued: 0, written: 0, dropped: 0, failed: 0 },
  };
}
