/**
 * The sample shop on Koa 3: the same JSON API, fake login and audit admin as the Express app.
 */
import { setChangeReason } from '@auditrum/core';
import { auditAdmin, auditMiddleware } from '@auditrum/koa';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context } from 'koa';
import Koa from 'koa';
import type pg from 'pg';
import type { ShopUser } from './shop.ts';
import {
  adminAccess,
  loginPage,
  READ_ONLY_ADMIN_PATH,
  readOnlyAdminAccess,
  ShopError,
  shop,
  USER_COOKIE,
  USER_HEADER,
  USERS,
  userOfRequest,
} from './shop.ts';
import type { ShopApp } from './shop-app.ts';

interface ShopState {
  user?: ShopUser;
}

export function createKoaShop({ pool }: { pool: pg.Pool }): ShopApp {
  const app = new Koa<ShopState>();
  const api = shop(pool);
  const audit = auditMiddleware({ pool });
  const router = new Router<ShopState>();

  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      if (error instanceof ShopError) {
        ctx.status = error.status;
        ctx.body = { error: error.message };
        return;
      }
      const status = (error as { status?: unknown }).status;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        ctx.status = status;
        ctx.body = { error: (error as Error).message };
        return;
      }
      console.error('sample shop (koa):', error);
      ctx.status = 500;
      ctx.body = { error: 'internal error' };
    }
  });
  // The fake login: the x-shop-user header or the cookie set by the login page. Auditrum reads ctx.state.user.
  app.use(async (ctx, next) => {
    const user = userOfRequest(ctx.get(USER_HEADER) || undefined, ctx.get('cookie') || undefined);
    if (user) ctx.state.user = user;
    await next();
  });
  app.use(audit);
  // Staff may also put data back (revert, restore, undelete, undo), recorded under their own name.
  const userOf = (ctx: Context): ShopUser | undefined => ctx.state.user;
  app.use(auditAdmin({ pool, basePath: '/audit-admin', ...adminAccess(userOf) }));
  // The same log, read-only: no write button, and every write refused.
  app.use(auditAdmin({ pool, basePath: READ_ONLY_ADMIN_PATH, ...readOnlyAdminAccess(userOf) }));
  app.use(bodyParser());
  // Why a change is made, when the client says so.
  app.use(async (ctx, next) => {
    const body = ctx.request.body as { reason?: unknown } | undefined;
    const reason = ctx.get('x-change-reason') || (typeof body?.reason === 'string' ? body.reason : undefined);
    if (reason) setChangeReason(reason);
    await next();
  });

  router.get('/', (ctx) => {
    ctx.type = 'html';
    ctx.body = loginPage(ctx.state.user);
  });
  router.post('/login', (ctx) => {
    const id = (ctx.request.body as { user?: unknown } | undefined)?.user;
    const user = USERS.find((candidate) => candidate.id === id);
    if (!user) throw new ShopError(400, 'unknown user');
    ctx.cookies.set(USER_COOKIE, user.id, { httpOnly: true, sameSite: 'lax', path: '/' });
    ctx.status = 303;
    ctx.redirect(user.isStaff ? '/audit-admin/' : '/');
  });
  router.post('/logout', (ctx) => {
    ctx.cookies.set(USER_COOKIE, null, { path: '/' });
    ctx.status = 303;
    ctx.redirect('/');
  });

  router.get('/api/products', async (ctx) => {
    ctx.body = await api.listProducts();
  });
  router.patch('/api/products/:id', async (ctx) => {
    ctx.body = await api.updateProduct(ctx.state.user, ctx.params.id, ctx.request.body);
  });
  router.patch('/api/customers/:id', async (ctx) => {
    ctx.body = await api.updateCustomer(ctx.state.user, ctx.params.id, ctx.request.body);
  });
  router.get('/api/orders', async (ctx) => {
    ctx.body = await api.listOrders();
  });
  router.post('/api/orders', async (ctx) => {
    ctx.status = 201;
    ctx.body = await api.createOrder(ctx.state.user, ctx.request.body);
  });
  router.post('/api/orders/bulk-status', async (ctx) => {
    ctx.body = await api.bulkStatus(ctx.state.user, ctx.request.body);
  });
  router.get('/api/orders/:id', async (ctx) => {
    ctx.body = await api.getOrder(ctx.params.id);
  });
  router.patch('/api/orders/:id', async (ctx) => {
    ctx.body = await api.updateOrder(ctx.state.user, ctx.params.id, ctx.request.body);
  });
  router.delete('/api/orders/:orderId/items/:itemId', async (ctx) => {
    ctx.body = await api.deleteOrderItem(ctx.state.user, ctx.params.orderId, ctx.params.itemId);
  });
  app.use(router.routes());
  app.use(router.allowedMethods());

  return { callback: app.callback(), close: () => audit.close() };
}
