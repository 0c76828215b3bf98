/**
 * The sample shop on NestJS (its Express platform), set up as docs/nestjs.md says: Auditrum's Express middleware and
 * the admin through app.use(), the actor from request.user, the change reason set in a guard, and an exception
 * filter that answers the shop's errors and hands them to the API log. The same JSON API and fake login as the
 * Express app. Nest's decorators are applied as the functions they are: Node's type stripping, which runs the
 * sample apps, compiles no decorator syntax.
 */
import 'reflect-metadata';
import { setChangeReason } from '@auditrum/core';
import { auditAdmin, auditMiddleware } from '@auditrum/express';
import type { ArgumentsHost, CanActivate, ExceptionFilter, ExecutionContext } from '@nestjs/common';
import {
  Body,
  Catch,
  Controller,
  Delete,
  Get,
  HttpCode,
  Injectable,
  Module,
  Param,
  Patch,
  Post,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Request, Response } from 'express';
import type pg from 'pg';
import type { ShopUser } from './shop.ts';
import {
  adminActor,
  loginPage,
  READ_ONLY_ADMIN_PATH,
  ShopError,
  shop,
  staffOnly,
  USER_COOKIE,
  USER_HEADER,
  USERS,
  userOfRequest,
} from './shop.ts';
import type { ShopApp } from './shop-app.ts';

type ShopRequest = Request & { user?: ShopUser };

/** Why a change is made, when the client says so: a guard, so that the body is parsed and the context open. */
class ChangeReasonGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<ShopRequest>();
    const body = request.body as { reason?: unknown } | undefined;
    const reason = request.get('x-change-reason') ?? (typeof body?.reason === 'string' ? body.reason : undefined);
    if (reason) setChangeReason(reason);
    return true;
  }
}
Injectable()(ChangeReasonGuard);

/** The shop's errors as the Express app answers them; every error goes to the API log as `res.err`. */
class ShopErrorFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    response.err = exception as Error;
    // Nest's own HttpExceptions (a 404, a body that is not JSON) carry their status.
    const status = (exception as { getStatus?: () => number }).getStatus?.();
    if (exception instanceof ShopError) {
      response.status(exception.status).json({ error: exception.message });
    } else if (typeof status === 'number' && status >= 400 && status < 500) {
      response.status(status).json({ error: (exception as Error).message });
    } else {
      console.error('sample shop (nest):', exception);
      response.status(500).json({ error: 'internal error' });
    }
  }
}
Catch()(ShopErrorFilter);

function shopController(pool: pg.Pool) {
  const api = shop(pool);
  class ShopController {
    home(req: ShopRequest, res: Response): void {
      res.type('html').send(loginPage(req.user));
    }
    login(body: { user?: unknown } | undefined, res: Response): void {
      const user = USERS.find((candidate) => candidate.id === body?.user);
      if (!user) throw new ShopError(400, 'unknown user');
      res.cookie(USER_COOKIE, user.id, { httpOnly: true, sameSite: 'lax', path: '/' });
      res.redirect(303, user.isStaff ? '/audit-admin/' : '/');
    }
    logout(res: Response): void {
      res.clearCookie(USER_COOKIE, { path: '/' });
      res.redirect(303, '/');
    }
    listProducts() {
      return api.listProducts();
    }
    updateProduct(req: ShopRequest, id: string, body: unknown) {
      return api.updateProduct(req.user, id, body);
    }
    updateCustomer(req: ShopRequest, id: string, body: unknown) {
      return api.updateCustomer(req.user, id, body);
    }
    listOrders() {
      return api.listOrders();
    }
    createOrder(req: ShopRequest, body: unknown) {
      return api.createOrder(req.user, body);
    }
    bulkStatus(req: ShopRequest, body: unknown) {
      return api.bulkStatus(req.user, body);
    }
    getOrder(id: string) {
      return api.getOrder(id);
    }
    updateOrder(req: ShopRequest, id: string, body: unknown) {
      return api.updateOrder(req.user, id, body);
    }
    deleteOrderItem(req: ShopRequest, orderId: string, itemId: string) {
      return api.deleteOrderItem(req.user, orderId, itemId);
    }
  }
  const proto = ShopController.prototype;
  type Route = [
    decorate: MethodDecorator,
    method: keyof ShopController,
    parameters: ParameterDecorator[],
    extra?: MethodDecorator,
  ];
  const routes: Route[] = [
    [Get(), 'home', [Req(), Res()]],
    [Post('login'), 'login', [Body(), Res()]],
    [Post('logout'), 'logout', [Res()]],
    [Get('api/products'), 'listProducts', []],
    [Patch('api/products/:id'), 'updateProduct', [Req(), Param('id'), Body()]],
    [Patch('api/customers/:id'), 'updateCustomer', [Req(), Param('id'), Body()]],
    [Get('api/orders'), 'listOrders', []],
    [Post('api/orders'), 'createOrder', [Req(), Body()], HttpCode(201)],
    [Post('api/orders/bulk-status'), 'bulkStatus', [Req(), Body()], HttpCode(200)],
    [Get('api/orders/:id'), 'getOrder', [Param('id')]],
    [Patch('api/orders/:id'), 'updateOrder', [Req(), Param('id'), Body()]],
    [Delete('api/orders/:orderId/items/:itemId'), 'deleteOrderItem', [Req(), Param('orderId'), Param('itemId')]],
  ];
  for (const [decorate, method, parameters, extra] of routes) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, method) as PropertyDescriptor;
    for (const [index, parameter] of parameters.entries()) parameter(proto, method, index);
    extra?.(proto, method, descriptor);
    decorate(proto, method, descriptor);
  }
  Controller()(ShopController);
  UseGuards(ChangeReasonGuard)(ShopController);
  return ShopController;
}

export async function createNestShop({ pool }: { pool: pg.Pool }): Promise<ShopApp> {
  class ShopModule {}
  Module({ controllers: [shopController(pool)], providers: [ChangeReasonGuard] })(ShopModule);
  const app = await NestFactory.create<NestExpressApplication>(ShopModule, { logger: ['error', 'warn'] });
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
  app.use(
    '/audit-admin',
    auditAdmin({
      pool,
      authorize: (req: ShopRequest) => staffOnly(req.user),
      authorizeWrite: (req: ShopRequest) => req.user?.isStaff === true,
      actor: (req: ShopRequest) => adminActor(req.user),
      loginUrl: '/',
    }),
  );
  // The same log, read-only: no write button, and every write refused.
  app.use(
    READ_ONLY_ADMIN_PATH,
    auditAdmin({ pool, authorize: (req: ShopRequest) => staffOnly(req.user), loginUrl: '/' }),
  );
  app.useGlobalFilters(new ShopErrorFilter());
  await app.init();
  return {
    callback: app.getHttpAdapter().getInstance(),
    close: () => app.close().then(() => audit.close()),
  };
}
