/**
 * The end-to-end tests' servers: one PostgreSQL, and the Express and the Koa sample shops each on its own
 * database. Prints `READY {"express": url, "koa": url}` when both listen; stops everything (and removes
 * the embedded server's data) on SIGTERM, SIGINT, or when its parent closes its stdin.
 */
import { startPostgres } from './postgres.ts';
import type { RunningShop } from './start-shop.ts';
import { startShop } from './start-shop.ts';

const postgres = await startPostgres();
const shops: RunningShop[] = [];
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
  for (const framework of ['express', 'koa'] as const) {
    shops.push(await startShop(framework, await postgres.createDatabase(`auditrum_e2e_${framework}`)));
  }
  console.log(`READY ${JSON.stringify(Object.fromEntries(shops.map((shop) => [shop.framework, shop.url])))}`);
} catch (error) {
  console.error(error);
  await stop(1);
}
