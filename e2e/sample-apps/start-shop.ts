/**
 * Starts one sample shop on its own database: the shop's tables, Auditrum's schema and tracking, the seed
 * data (recorded as a migration), and the app on 127.0.0.1.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuditrum, withAuditContext } from '@auditrum/core';
import pg from 'pg';
import { createExpressShop } from './express-app.ts';
import { createFastifyShop } from './fastify-app.ts';
import type { Framework } from './frameworks.ts';
import { createKoaShop } from './koa-app.ts';
import { createNestShop } from './nest-app.ts';
import { createNestFastifyShop } from './nest-fastify-app.ts';
import { createShopSchema, SHOP_TABLES, seedShop } from './shop.ts';
import type { ShopApp } from './shop-app.ts';

const SHOPS: Record<Framework, (options: { pool: pg.Pool }) => ShopApp | Promise<ShopApp>> = {
  express: createExpressShop,
  koa: createKoaShop,
  fastify: createFastifyShop,
  nest: createNestShop,
  'nest-fastify': createNestFastifyShop,
};

export interface RunningShop {
  framework: Framework;
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  pool: pg.Pool;
  stop(): Promise<void>;
}

export async function startShop(framework: Framework, databaseUrl: string, port = 0): Promise<RunningShop> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 5 });
  // An idle connection that the server closes must not crash the process. pool.end() resolves before its
  // connections are closed, so the server stopping right after may still report some: expected then.
  let stopped = false;
  pool.on('error', (error) => {
    if (!stopped) console.error(`sample shop (${framework}): idle connection lost: ${error.message}`);
  });
  const audit = createAuditrum({ pool });
  await createShopSchema(pool);
  await audit.migrate();
  for (const [table, rules] of Object.entries(SHOP_TABLES)) await audit.track(table, rules);
  await withAuditContext({ source: 'migration', reason: 'seed data of the sample shop' }, () => seedShop(pool));

  const app = await SHOPS[framework]({ pool });
  const server = http.createServer(app.callback);
  try {
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
  } catch (error) {
    await app.close();
    await audit.close();
    await pool.end();
    throw error;
  }
  const { port: actualPort } = server.address() as AddressInfo;
  return {
    framework,
    url: `http://127.0.0.1:${actualPort}`,
    pool,
    async stop() {
      stopped = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await app.close();
      await audit.close();
      await pool.end();
    },
  };
}
