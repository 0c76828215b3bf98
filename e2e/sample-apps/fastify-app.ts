/**
 * The sample shop on Fastify 5: the same JSON API, fake login and audit admin as the Express app, with Auditrum's
 * plugin (request ids, audit context, API log) and the admin registered as plugins with a prefix.
 */
import { setChangeReason } from '@auditrum/core';
import { auditAdmin, auditPlugin } from '@auditrum/fastify';
import type { FastifyRequest } from 'fastify';
import Fastify from 'fastify';
import type pg from 'pg';
import type { ShopUser } from './shop.ts';
import {
  adminAccess,
  LOGOUT_COOKIE,
  loginCookie,
  loginPage,
  READ_ONLY_ADMIN_PATH,
  readOnlyAdminAccess,
  ShopError,
  shop,
  USER_HEADER,
  USERS,
  userOfRequest,
} from './shop.ts';
import type { ShopApp } from './shop-app.ts';

declare module 'fastify' {
  interface FastifyRequest {
    user?: ShopUser;
  }
}

type Params = Record<string, string>;

export async function createFastifyShop({ pool }: { pool: pg.Pool }): Promise<ShopApp> {
  const app = Fastify();
  const api = shop(pool);
  const audit = auditPlugin({ pool });

  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    if (error instanceof ShopError) return reply.status(error.status).send({ error: error.message });
    const status = error.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return reply.status(status).send({ error: error.message });
    }
    console.error('sample shop (fastify):', error);
    return reply.status(500).send({ error: 'internal error' });
  });
  // The fake login: the x-shop-user header or the cookie set by the login page. Auditrum reads request.user.
  app.addHook('onRequest', (request, _reply, done) => {
    const user = userOfRequest(request.headers[USER_HEADER], request.headers.cookie);
    if (user) request.user = user;
    done();
  });
  await app.register(audit);
  // JSON (an empty body, as a DELETE sends it, is none) and the login page's form.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, body === '' ? undefined : JSON.parse(body as string));
    } catch (error) {
      done(Object.assign(error as Error, { statusCode: 400 }), undefined);
    }
  });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  // Why a change is made, when the client says so (after the body is parsed, inside the request's audit context).
  app.addHook('preHandler', (request, _reply, done) => {
    const header = request.headers['x-change-reason'];
    const body = request.body as { reason?: unknown } | undefined;
    const reason = typeof header === 'string' ? header : typeof body?.reason === 'string' ? body.reason : undefined;
    if (reason) setChangeReason(reason);
    done();
  });

  // Staff may also put data back (revert, restore, undelete, undo), recorded under their own name.
  const userOf = (request: FastifyRequest) => request.user;
  await app.register(auditAdmin({ pool, ...adminAccess(userOf) }), { prefix: '/audit-admin' });
  // The same log, read-only: no write button, and every write refused.
  await app.register(auditAdmin({ pool, ...readOnlyAdminAccess(userOf) }), { prefix: READ_ONLY_ADMIN_PATH });

  app.get('/', async (request, reply) => reply.type('text/html; charset=utf-8').send(loginPage(request.user)));
  app.post('/login', async (request, reply) => {
    const id = (request.body as { user?: unknown } | undefined)?.user;
    const user = USERS.find((candidate) => candidate.id === id);
    if (!user) throw new ShopError(400, 'unknown user');
    reply.header('set-cookie', loginCookie(user));
    return reply.redirect(user.isStaff ? '/audit-admin/' : '/', 303);
  });
  app.post('/logout', async (_request, reply) => {
    reply.header('set-cookie', LOGOUT_COOKIE);
    return reply.redirect('/', 303);
  });

  app.get('/api/products', async () => api.listProducts());
  app.patch<{ Params: Params }>('/api/products/:id', async (request) =>
    api.updateProduct(request.user, request.params.id, request.body),
  );
  app.patch<{ Params: Params }>('/api/customers/:id', async (request) =>
    api.updateCustomer(request.user, request.params.id, request.body),
  );
  app.get('/api/orders', async () => api.listOrders());
  app.post('/api/orders', async (request, reply) =>
    reply.status(201).send(await api.createOrder(request.user, request.body)),
  );
  app.post('/api/orders/bulk-status', async (request) => api.bulkStatus(request.user, request.body));
  app.get<{ Params: Params }>('/api/orders/:id', async (request) => api.getOrder(request.params.id as string));
  app.patch<{ Params: Params }>('/api/orders/:id', async (request) =>
    api.updateOrder(request.user, request.params.id, request.body),
  );
  app.delete<{ Params: Params }>('/api/orders/:orderId/items/:itemId', async (request) =>
    api.deleteOrderItem(request.user, request.params.orderId, request.params.itemId),
  );

  await app.ready();
  return { callback: (req, res) => app.routing(req, res), close: () => app.close() };
}
