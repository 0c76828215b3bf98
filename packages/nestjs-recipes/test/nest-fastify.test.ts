import { auditPlugin } from '@auditrum/fastify';
import { NestFactory } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { runNestRecipe } from './nest-recipe.js';
import { AuditErrorFilter, shopModule } from './shop-module.js';

// docs/nestjs.md, the Fastify platform: Auditrum's Fastify plugin through app.register(), before listen(); the
// error filter hands Nest's errors to the API log (Nest answers them before Fastify's onError hook could see them).
// Behind a proxy on the same host (trustProxy): its X-Request-Id (here the tests') is used.
runNestRecipe('Fastify', async (pool) => {
  const app = await NestFactory.create<NestFastifyApplication>(
    shopModule(pool),
    new FastifyAdapter({ trustProxy: 'loopback' }),
    {
      logger: false,
    },
  );
  await app.register(auditPlugin({ pool, queue: { flushIntervalMs: 10 } }));
  app.useGlobalFilters(new AuditErrorFilter(app.getHttpAdapter()));
  await app.listen(0, '127.0.0.1');
  // app.close() closes Fastify, whose onClose hook flushes the API log.
  return { app, close: () => app.close() };
});
