/**
 * The sample shop on Express 5: a JSON API, a fake login, Auditrum's middleware (request ids, audit context,
 * API log) and the audit admin at /audit-admin for staff.
 */
import { setChangeReason } from '@auditrum/core';
import { auditAdmin, auditMiddleware } from '@auditrum/express';
import type { NextFunction, Request, Response } from 'express';
import express from 'express';
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

declare global {
  namespace Express {
    interface Request {
      user?: ShopUser;
    }
  }
}

export function createExpressShop({ pool }: { pool: pg.Pool }): ShopApp {
  const app = express();
  const api = shop(pool);
  const audit = auditMiddleware({ pool });

  // The fake login: the x-shop-user header or the cookie set by the login page. Auditrum reads req.user.
  app.use((req, _res, next) => {
    const user = userOfRequest(req.headers[USER_HEADER], req.headers.cookie);
    if (user) req.user = user;
    next();
  });
  app.use(audit);
  app.use(express.json());
  app.use(express.urlencoded({ extended: false }));
  // Why a change is made, when the client says so.
  app.use((req, _res, next) => {
    const reason = req.get('x-change-reason') ?? (typeof req.body?.reason === 'string' ? req.body.reason : undefined);
    if (reason) setChangeReason(reason);
    next();
  });

  // Staff may also put data back (revert, restore, undelete, undo), recorded under their own name.
  const userOf = (req: Request) => req.user;
  app.use('/audit-admin', auditAdmin({ pool, ...adminAccess(userOf) }));
  // The same log, read-only: no write button, and every write refused.
  app.use(READ_ONLY_ADMIN_PATH, auditAdmin({ pool, ...readOnlyAdminAccess(userOf) }));

  app.get('/', (req, res) => {
    res.type('html').send(loginPage(req.user));
  });
  app.post('/login', (req, res) => {
    const user = USERS.find((candidate) => candidate.id === req.body?.user);
    if (!user) throw new ShopError(400, 'unknown user');
    res.cookie(USER_COOKIE, user.id, { httpOnly: true, sameSite: 'lax', path: '/' });
    res.redirect(303, user.isStaff ? '/audit-admin/' : '/');
  });
  app.post('/logout', (_req, res) => {
    res.clearCookie(USER_COOKIE, { path: '/' });
    res.redirect(303, '/');
  });

  app.get('/api/products', async (_req, res) => {
    res.json(await api.listProducts());
  });
  app.patch('/api/products/:id', async (req, res) => {
    res.json(await api.updateProduct(req.user, req.params.id, req.body));
  });
  app.patch('/api/customers/:id', async (req, res) => {
    res.json(await api.updateCustomer(req.user, req.params.id, req.body));
  });
  app.get('/api/orders', async (_req, res) => {
    res.json(await api.listOrders());
  });
  app.post('/api/orders', async (req, res) => {
    res.status(201).json(await api.createOrder(req.user, req.body));
  });
  app.post('/api/orders/bulk-status', async (req, res) => {
    res.json(await api.bulkStatus(req.user, req.body));
  });
  app.get('/api/orders/:id', async (req, res) => {
    res.json(await api.getOrder(req.params.id));
  });
  app.patch('/api/orders/:id', async (req, res) => {
    res.json(await api.updateOrder(req.user, req.params.id, req.body));
  });
  app.delete('/api/orders/:orderId/items/:itemId', async (req, res) => {
    res.json(await api.deleteOrderItem(req.user, req.params.orderId, req.params.itemId));
  });

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof ShopError) {
      res.status(error.status).json({ error: error.message });
      return;
    }
    const status = (error as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      res.status(status).json({ error: (error as Error).message });
      return;
    }
    console.error('sample shop (express):', error);
    res.status(500).json({ error: 'internal error' });
  });

  return { callback: app, close: () => audit.close() };
}
