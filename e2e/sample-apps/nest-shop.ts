/**
 * What the two NestJS sample shops share, whichever platform runs them (Express: nest-app.ts, Fastify:
 * nest-fastify-app.ts): the shop's controller with the same JSON API and fake login as the Express app, the guard
 * that sets the change reason, and the exception filter that answers the shop's errors and hands them to the API
 * log. Responses go through Nest's HTTP adapter (decorators, `HttpAdapterHost`), never through one platform's
 * response object. Nest's decorators are applied as the functions they are: Node's type stripping, which runs the
 * sample apps, compiles no decorator syntax.
 */
import 'reflect-metadata';
import { setChangeReason } from '@auditrum/core';
import type { ArgumentsHost, CanActivate, ExceptionFilter, ExecutionContext, HttpServer } from '@nestjs/common';
import {
  Body,
  Catch,
  Controller,
  Delete,
  Get,
  Header,
  HttpCode,
  Inject,
  Injectable,
  Module,
  Param,
  Patch,
  Post,
  Redirect,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type pg from 'pg';
import type { ShopUser } from './shop.ts';
import { LOGOUT_COOKIE, loginCookie, loginPage, ShopError, shop, USERS } from './shop.ts';

/** Express's request or Fastify's: the fake login left the user on it, the body parser the body. */
interface ShopRequest {
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
  user?: ShopUser;
}

/** A redirect as Nest's `@Redirect()` takes it from the handler. */
interface RedirectTo {
  url: string;
  statusCode: number;
}

/** Why a change is made, when the client says so: a guard, so that the body is parsed and the context open. */
class ChangeReasonGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<ShopRequest>();
    const header = request.headers['x-change-reason'];
    const body = request.body as { reason?: unknown } | undefined;
    const reason = typeof header === 'string' ? header : typeof body?.reason === 'string' ? body.reason : undefined;
    if (reason) setChangeReason(reason);
    return true;
  }
}
Injectable()(ChangeReasonGuard);

/**
 * The shop's errors as the Express app answers them; every error goes to the API log as `err` on the Node response
 * (pino-http's convention, read by both adapters): Express's `res` is one, Fastify's reply holds one as `raw`.
 */
export class ShopErrorFilter implements ExceptionFilter {
  private readonly adapter: HttpServer;

  constructor(adapter: HttpServer) {
    this.adapter = adapter;
  }

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<{ raw?: object }>();
    Object.assign(response.raw ?? response, { err: exception });
    // Nest's own HttpExceptions (a 404, a body that is not JSON) carry their status.
    const status = (exception as { getStatus?: () => number }).getStatus?.();
    if (exception instanceof ShopError) {
      this.adapter.reply(response, { error: exception.message }, exception.status);
    } else if (typeof status === 'number' && status >= 400 && status < 500) {
      this.adapter.reply(response, { error: (exception as Error).message }, status);
    } else {
      console.error('sample shop (nest):', exception);
      this.adapter.reply(response, { error: 'internal error' }, 500);
    }
  }
}
Catch()(ShopErrorFilter);

function shopController(pool: pg.Pool) {
  const api = shop(pool);
  class ShopController {
    private readonly adapterHost: HttpAdapterHost;

    constructor(adapterHost: HttpAdapterHost) {
      this.adapterHost = adapterHost;
    }

    home(req: ShopRequest): string {
      return loginPage(req.user);
    }
    login(body: { user?: unknown } | undefined, res: object): RedirectTo {
      const user = USERS.find((candidate) => candidate.id === body?.user);
      if (!user) throw new ShopError(400, 'unknown user');
      this.adapterHost.httpAdapter.setHeader(res, 'set-cookie', loginCookie(user));
      return { url: user.isStaff ? '/audit-admin/' : '/', statusCode: 303 };
    }
    logout(res: object): void {
      this.adapterHost.httpAdapter.setHeader(res, 'set-cookie', LOGOUT_COOKIE);
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
  // The response only to set a header on: Nest still sends what the handler returns.
  const headerSetter = Res({ passthrough: true });
  type Route = [
    decorate: MethodDecorator,
    method: keyof ShopController,
    parameters: ParameterDecorator[],
    ...extra: MethodDecorator[],
  ];
  const routes: Route[] = [
    [Get(), 'home', [Req()], Header('content-type', 'text/html; charset=utf-8')],
    [Post('login'), 'login', [Body(), headerSetter], Redirect()],
    [Post('logout'), 'logout', [headerSetter], Redirect('/', 303)],
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
  for (const [decorate, method, parameters, ...extra] of routes) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, method) as PropertyDescriptor;
    for (const [index, parameter] of parameters.entries()) parameter(proto, method, index);
    for (const decorator of extra) decorator(proto, method, descriptor);
    decorate(proto, method, descriptor);
  }
  // What `constructor(private readonly adapterHost: HttpAdapterHost)` would declare with decorator metadata.
  Inject(HttpAdapterHost)(ShopController, undefined, 0);
  Controller()(ShopController);
  UseGuards(ChangeReasonGuard)(ShopController);
  return ShopController;
}

/** The shop's Nest module: its controller on `pool`, guarded by the change-reason guard. */
export function shopModule(pool: pg.Pool): new () => object {
  class ShopModule {}
  Module({ controllers: [shopController(pool)], providers: [ChangeReasonGuard] })(ShopModule);
  return ShopModule;
}
