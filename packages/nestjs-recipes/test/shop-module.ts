import 'reflect-metadata';
import { setChangeReason } from '@auditrum/core';
import type { ArgumentsHost, CanActivate, ExecutionContext } from '@nestjs/common';
import { Body, Catch, Controller, Get, Headers, Injectable, Module, Param, Post, Put, UseGuards } from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type pg from 'pg';

// The Nest app of the recipes, the same on both platforms. Nest's decorators are applied as the functions they
// are (what TypeScript's decorator syntax compiles to), so that the test programs need no decorator compiler
// options; an app writes `@Controller('items')`, `@Get(':id')`, `@Param('id')` as usual.

/** Auth as Nest apps do it, in a guard (after the audit middleware or plugin): `x-test-user: id|email` → `request.user`. */
class FakeAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{ headers: Record<string, unknown>; user?: unknown }>();
    const header = request.headers['x-test-user'];
    if (typeof header === 'string') {
      const [id, email] = header.split('|');
      request.user = { id, email };
    }
    return true;
  }
}
Injectable()(FakeAuthGuard);

/**
 * Nest answers an error itself, before Express's error middleware or Fastify's onError hook could see it: this
 * filter hands it to the API log as `res.err` (pino-http's convention, read by both adapters), then answers as Nest does.
 */
export class AuditErrorFilter extends BaseExceptionFilter {
  override catch(exception: unknown, host: ArgumentsHost): void {
    // Express's res, or the Node response under Fastify's reply.
    const response = host.switchToHttp().getResponse<{ raw?: object }>();
    Object.assign(response.raw ?? response, { err: exception });
    super.catch(exception, host);
  }
}
Catch()(AuditErrorFilter);

/** The app's module: routes under /items that change table `items` with `pool`. */
export function shopModule(pool: pg.Pool): new () => object {
  class ItemsController {
    async get(id: string): Promise<unknown> {
      const { rows } = await pool.query('SELECT id, name FROM items WHERE id = $1', [Number(id)]);
      return rows[0];
    }

    async rename(id: string, body: { name: string }, reason: string | undefined): Promise<unknown> {
      if (reason) setChangeReason(reason);
      await pool.query('UPDATE items SET name = $1 WHERE id = $2', [body.name, Number(id)]);
      // A change after another turn of the event loop carries the same context.
      await new Promise((resolve) => setImmediate(resolve));
      await pool.query(`UPDATE items SET note = 'renamed' WHERE id = $1`, [Number(id)]);
      return { id: Number(id), name: body.name };
    }

    async fail(id: string): Promise<never> {
      await pool.query(`UPDATE items SET name = 'failing' WHERE id = $1`, [Number(id)]);
      throw new Error('boom: handler failed');
    }
  }
  const proto = ItemsController.prototype;
  const method = (name: keyof ItemsController) =>
    [proto, name, Object.getOwnPropertyDescriptor(proto, name) as PropertyDescriptor] as const;
  Get(':id')(...method('get'));
  Param('id')(proto, 'get', 0);
  Put(':id')(...method('rename'));
  Param('id')(proto, 'rename', 0);
  Body()(proto, 'rename', 1);
  Headers('x-test-reason')(proto, 'rename', 2);
  Post(':id/fail')(...method('fail'));
  Param('id')(proto, 'fail', 0);
  Controller('items')(ItemsController);
  UseGuards(FakeAuthGuard)(ItemsController);

  class ShopModule {}
  Module({ controllers: [ItemsController], providers: [FakeAuthGuard] })(ShopModule);
  return ShopModule;
}
