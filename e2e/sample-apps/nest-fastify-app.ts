/**
 * The sample shop on NestJS's Fastify platform, set up as docs/nestjs.md "On Fastify" says: Auditrum's Fastify plugin
 * and the admin (twice: read-write and read-only) through app.register() with a prefix, before the app starts. The
 * module, change-reason guard and error filter are nest-shop.ts, shared with the shop on Nest's Express platform:
 * the same JSON API and fake login as the other shops.
 */
import { auditAdmin, auditPlugin } from '@auditrum/fastify';
import { BadRequestException } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import type pg from 'pg';
import { ShopErrorFilter, shopModule } from './nest-shop.ts';
import type { ShopUser } from './shop.ts';
import { adminAccess, READ_ONLY_ADMIN_PATH, readOnlyAdminAccess, USER_HEADER, userOfRequest } from './shop.ts';
import type { ShopApp } from './shop-app.ts';

type ShopRequest = FastifyRequest & { user?: ShopUser };

export async function createNestFastifyShop({ pool }: { pool: pg.Pool }): Promise<ShopApp> {
  const app = await NestFactory.create<NestFastifyApplication>(shopModule(pool), new FastifyAdapter(), {
    logger: ['error', 'warn'],
  });
  const fastify = app.getHttpAdapter().getInstance();

  // The fake login: the x-shop-user header or the cookie set by the login page, in Fastify's first hook (a Nest
  // guard would do as well: Auditrum reads request.user at each change).
  fastify.addHook('onRequest', (request: ShopRequest, _reply, done) => {
    const user = userOfRequest(request.headers[USER_HEADER], request.headers.cookie);
    if (user) request.user = user;
    done();
  });
  await app.register(auditPlugin({ pool }));
  // JSON, where an empty body (as a DELETE sends it with its content type) is none; Nest adds the form parser.
  app.useBodyParser('application/json', {}, (_request, body, done) => {
    if (body.length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse(body.toString('utf8')));
    } catch (error) {
      done(new BadRequestException((error as Error).message), undefined);
    }
  });
  // Staff may also put data back (revert, restore, undelete, undo), recorded under their own name.
  const userOf = (request: ShopRequest) => request.user;
  await app.register(auditAdmin({ pool, ...adminAccess(userOf) }), { prefix: '/audit-admin' });
  // The same log, read-only: no write button, and every write refused.
  await app.register(auditAdmin({ pool, ...readOnlyAdminAccess(userOf) }), { prefix: READ_ONLY_ADMIN_PATH });
  app.useGlobalFilters(new ShopErrorFilter(app.getHttpAdapter()));
  await app.init();
  await fastify.ready();
  // app.close() closes Fastify, whose onClose hook flushes the API log.
  return { callback: (req, res) => fastify.routing(req, res), close: () => app.close() };
}
