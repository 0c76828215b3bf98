/**
 * The end-to-end tests' servers: one PostgreSQL, and the Express, Koa, Fastify and NestJS (on its Express and on its
 * Fastify platform) sample shops each on its own database, each with a write by an analyst's role that claims to be
 * a shop user (analyst.ts). Prints `READY {"express": url, "koa": url, …, "express_db": url, …}` when all listen
 * (the tests read each shop's database to check what the admin's writes did); stops everything (and removes the
 * embedded server's data, or the databases and roles on DATABASE_URL) on SIGTERM, SIGINT, or when its parent closes
 * its stdin.
 */
import { analystRepricesWithClaim } from './analyst.ts';
import { FRAMEWORKS } from './frameworks.ts';
import { startPostgres } from './postgres.ts';
import type { RunningShop } from './start-shop.ts';
import { startShop } from './start-shop.ts';

const postgres = await startPostgres();
const shops: RunningShop[] = [];
const databases: Record<string, string> = {};
let stopping: Promise<void> | undefined;

/** Stops once, however many signals arrive: the apps (their API logs flushed), then PostgreSQL. */
async function stop(code: number): Promise<never> {
  stopping ??= (async () => {
    for (const shop of shops) await shop.stop().catch((error: unknown) => console.error(error));
    await postgres.stop().catch((error: unknown) => console.error(error));
  })();
  await stopping;
  process.exit(code);
}
process.once('SIGINT', () => void stop(0));
process.once('SIGTERM', () => void stop(0));
process.stdin.on('end', () => void stop(0));
process.stdin.resume();

try {
  for (const framework of FRAMEWORKS) {
    const databaseUrl = await postgres.createDatabase(`auditrum_e2e_${framework}`);
    databases[`${framework}_db`] = databaseUrl;
    shops.push(await startShop(framework, databaseUrl));
    // A forged write from a role that is not the application's, for the tests to find as claimed context.
    await analystRepricesWithClaim(databaseUrl, await postgres.createRole('shop_analyst'));
  }
  const urls = Object.fromEntries(shops.map((shop) => [shop.framework, shop.url]));
  console.log(`READY ${JSON.stringify({ ...urls, ...databases })}`);
} catch (error) {
  console.error(error);
  await stop(1);
}
