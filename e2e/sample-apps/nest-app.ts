/**
 * The sample shop on NestJS (its Express platform), set up as docs/nestjs.md says: Auditrum's Express middleware and
 * the admin through app.use(), the actor from request.user, the change reason set in a guard, and an exception
 * filter that answers the shop's errors and hands them to the API log (the module, guard and filter are
 * nest-shop.ts, shared with the shop on Nest's Fastify platform). The same JSON API and fake login as the Express
 * app.
 */
import { auditAdmin, auditMiddleware } from '@auditrum/express';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Request, Response } from 'express';
import type pg from 'pg';
import { ShopErrorFilter, shopModule } from './nest-shop.ts';
import type { ShopUser } from './shop.ts';
import { adminAccess, READ_ONLY_ADMIN_PATH, readOnlyAdminAccess, USER_HEADER, userOfRequest } from './shop.ts';
import type { ShopApp } from './shop-app.ts';

type ShopRequest = Request & { user?: ShopUser };

export async function createNestShop({ pool }: { pool: pg.Pool }): Promise<ShopApp> {
  const app = await NestFactory.create<NestExpressApplication>(shopModule(pool), { logger: ['error', 'warn'] });
  const audit = auditMiddleware({ pool });

  // The fake login: the x-shop-user header or the cookie set by the login page. Auditrum reads req.user.
  app.use((req: ShopRequest, _res: Response, next: () => void) => {
    const user = userOfRequest(req.headers[USER_HEADER], req.headers.cookie);
    if (user) req.user = user;
    next();
  });
  // Before Nest's body parsers, guards and handlers.
  app.use(audit);
  // Staff may also put data back (revert, restore, undelete, undo), recorded under their own name.
  const userOf = (req: ShopRequest) => req.user;
  app.use('/audit-admin', auditAdmin({ pool, ...adminAccess(userOf) }));
  // The same log, read-only: no write button, and every write refused.
  app.use(READ_ONLY_ADMIN_PATH, auditAdmin({ pool, ...readOnlyAdminAccess(userOf) }));
  app.useGlobalFilters(new ShopErrorFilter(app.getHttpAdapter()));
  await app.init();
  return {
    callback: app.getHttpAdapter().getInstance(),
    close: () => app.close().then(() => audit.close()),
  };
}
