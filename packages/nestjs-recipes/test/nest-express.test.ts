import { auditMiddleware } from '@auditrum/express';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { runNestRecipe } from './nest-recipe.js';
import { AuditErrorFilter, shopModule } from './shop-module.js';

// docs/nestjs.md, the Express platform: Auditrum's Express middleware through app.use(), before Nest's body parser
// and guards; the error filter hands Nest's errors to the API log.
runNestRecipe('Express', async (pool) => {
  const app = await NestFactory.create<NestExpressApplication>(shopModule(pool), { logger: false });
  // Behind a proxy on the same host: its X-Request-Id (here the tests') is used.
  app.set('trust proxy', 'loopback');
  const audit = auditMiddleware({ pool, queue: { flushIntervalMs: 10 } });
  app.use(audit);
  app.useGlobalFilters(new AuditErrorFilter(app.getHttpAdapter()));
  await app.listen(0, '127.0.0.1');
  return { app, close: () => app.close().then(() => audit.close()) };
});
