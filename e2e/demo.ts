/**
 * `pnpm demo`: the sample shop (Express) with the audit admin, on an embedded PostgreSQL (or DATABASE_URL),
 * with a history made through its HTTP API by several users. Runs until Ctrl-C, then removes everything it
 * created (the embedded server's data directory, or its database and role on DATABASE_URL).
 */
import { makeHistory } from './sample-apps/make-history.ts';
import { startPostgres } from './sample-apps/postgres.ts';
import { READ_ONLY_ADMIN_PATH, USERS } from './sample-apps/shop.ts';
import type { RunningShop } from './sample-apps/start-shop.ts';
import { startShop } from './sample-apps/start-shop.ts';

const port = Number(process.env.PORT ?? 3000);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`PORT must be a port number, not ${JSON.stringify(process.env.PORT)}`);
  process.exit(2);
}

console.log('Starting PostgreSQL…');
const postgres = await startPostgres();
let shop: RunningShop | undefined;
let stopping: Promise<void> | undefined;

/** Stops once, however many signals arrive: the app (its API log flushed), then PostgreSQL. */
async function stop(code: number): Promise<never> {
  stopping ??= (async () => {
    console.log('\nStopping: the app, then PostgreSQL…');
    await shop?.stop().catch((error: unknown) => console.error(error));
    await postgres.stop().catch((error: unknown) => console.error(error));
    console.log('Stopped; nothing left behind.');
  })();
  await stopping;
  process.exit(code);
}
process.once('SIGINT', () => void stop(0));
process.once('SIGTERM', () => void stop(0));

try {
  const databaseUrl = await postgres.createDatabase('auditrum_demo');
  try {
    shop = await startShop('express', databaseUrl, port);
  } catch (error) {
    if ((error as { code?: string }).code !== 'EADDRINUSE') throw error;
    console.log(`Port ${port} is taken; using a free one.`);
    shop = await startShop('express', databaseUrl, 0);
  }
  console.log(`PostgreSQL: ${postgres.description}. Making a history through the shop's API…`);
  await makeHistory(shop.url, databaseUrl, await postgres.createRole('shop_analyst'));
  const staff = USERS.filter((user) => user.isStaff).map((user) => user.name);
  console.log(`
Auditrum demo is running.

  Audit admin   ${shop.url}/audit-admin/            (staff may revert, restore, undelete, undo)
  Read-only     ${shop.url}${READ_ONLY_ADMIN_PATH}/
  Sample shop   ${shop.url}/

Sign in on ${shop.url}/ as a staff user (${staff.join(' or ')}) to open the admin; the
other user (not staff) is refused, and someone not signed in gets a link to sign in. API clients can
send the header "x-shop-user: 1" instead.
The history: orders placed by Bob, paid by Alice (one with a reason), a customer and products
changed by Carol (one description too large to keep), a bulk status change, a direct SQL write
with no app context, and one by another database role (shop_analyst_…) that claims to be Alice.

Press Ctrl-C to stop.`);
} catch (error) {
  console.error(error);
  await stop(1);
}
