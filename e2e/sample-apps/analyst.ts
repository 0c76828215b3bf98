/**
 * A reporting user with a database role of their own (not one of the application's) who reprices a product by
 * hand, as from psql, and claims in the statement's context comment to be Alice acting through the shop with a
 * reason. Auditrum believes a context comment only from the application's roles: the change is stored as a
 * direct database write by this role, and the comment only as claimed context.
 */
import pg from 'pg';
import type { LoginRole } from './postgres.ts';
import { urlAs } from './postgres.ts';

/** What the analyst's comment claims: Alice (a staff user), through the shop's HTTP API, with a reason. */
export const ANALYST_CLAIM = {
  actor_id: '1',
  actor_label: 'alice@shop.test',
  source: 'http',
  reason: 'price approved by management',
};

/** The product the analyst reprices, and its new price. */
export const ANALYST_PRODUCT = { sku: 'CAP-03', price: 1 };

/** Lets `analyst` change product prices (as the shop's role, which owns the table), then makes the forged write. */
export async function analystRepricesWithClaim(databaseUrl: string, analyst: LoginRole): Promise<void> {
  await asRole(databaseUrl, async (owner) => {
    await owner.query(`GRANT SELECT, UPDATE ON products TO ${pg.escapeIdentifier(analyst.name)}`);
  });
  await asRole(urlAs(databaseUrl, analyst), async (client) => {
    await client.query(`/*auditrum:${JSON.stringify(ANALYST_CLAIM)}*/UPDATE products SET price = $1 WHERE sku = $2`, [
      ANALYST_PRODUCT.price,
      ANALYST_PRODUCT.sku,
    ]);
  });
}

async function asRole(url: string, work: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: url, application_name: 'psql' });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}
