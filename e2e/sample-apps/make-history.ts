/**
 * A realistic history for the demo, made through the sample shop's HTTP API as several users, plus one
 * direct SQL write with no application context (as from psql), and one from another database role that claims
 * in a comment to be a shop user.
 */
import pg from 'pg';
import { analystRepricesWithClaim } from './analyst.ts';
import type { LoginRole } from './postgres.ts';
import { PRODUCT_TEXT_LIMIT, USER_HEADER } from './shop.ts';

type Json = Record<string, unknown>;

async function call(
  baseUrl: string,
  userId: string,
  method: string,
  path: string,
  body?: Json,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      [USER_HEADER]: userId,
      // A secret the API log masks before storing the call.
      authorization: 'Bearer demo-secret-token',
      'user-agent': 'auditrum-demo/1.0',
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Json) : {} };
}

async function ok(result: Promise<{ status: number; body: Json }>): Promise<Json> {
  const { status, body } = await result;
  if (status >= 400) throw new Error(`demo request failed with ${status}: ${JSON.stringify(body)}`);
  return body;
}

/** `analyst` is a login role that is not the application's (it gets UPDATE on products here). */
export async function makeHistory(baseUrl: string, databaseUrl: string, analyst: LoginRole): Promise<void> {
  const ALICE = '1';
  const BOB = '2';
  const CAROL = '3';
  // Bob orders three times.
  const first = await ok(
    call(baseUrl, BOB, 'POST', '/api/orders', {
      customerId: 1,
      items: [
        { productId: 1, qty: 2 },
        { productId: 4, qty: 1 },
      ],
      note: 'gift wrap please',
    }),
  );
  const second = await ok(
    call(baseUrl, BOB, 'POST', '/api/orders', { customerId: 2, items: [{ productId: 2, qty: 1 }] }),
  );
  const third = await ok(
    call(baseUrl, BOB, 'POST', '/api/orders', {
      customerId: 3,
      items: [
        { productId: 3, qty: 1 },
        { productId: 1, qty: 1 },
      ],
    }),
  );
  // Alice takes the payments, one with a reason; the payment token in the body is masked in the API log.
  await ok(
    call(
      baseUrl,
      ALICE,
      'PATCH',
      `/api/orders/${first.id}`,
      { status: 'paid', payment: { method: 'card', token: 'tok_live_4242' } },
      { 'x-change-reason': 'payment confirmed by phone, ticket #4812' },
    ),
  );
  await ok(call(baseUrl, ALICE, 'PATCH', `/api/orders/${second.id}`, { status: 'paid' }));
  await ok(
    call(baseUrl, ALICE, 'PATCH', `/api/orders/${third.id}`, { status: 'paid', shipping: { method: 'express' } }),
  );
  // Bob drops an item from his last order; Carol moves a customer and reprices a product.
  const thirdItems = (third.items as Json[]) ?? [];
  if (thirdItems[1]) await ok(call(baseUrl, BOB, 'DELETE', `/api/orders/${third.id}/items/${thirdItems[1].id}`));
  await ok(
    call(baseUrl, CAROL, 'PATCH', '/api/customers/2', { tier: 'gold', address: { city: 'York', zip: 'YO1 7HH' } }),
  );
  await ok(call(baseUrl, CAROL, 'PATCH', '/api/products/2', { price: 21.5 }, { 'x-change-reason': 'autumn sale' }));
  // A description over the products table's size limit: kept as its size and hash only.
  const longDescription = 'Heavy canvas tote with an inner pocket and long handles. '.repeat(30);
  if (Buffer.byteLength(longDescription) <= PRODUCT_TEXT_LIMIT) throw new Error('the long description is too short');
  await ok(call(baseUrl, CAROL, 'PATCH', '/api/products/4', { description: longDescription }));
  // A bulk change: every paid order shipped, in one statement.
  await ok(call(baseUrl, CAROL, 'POST', '/api/orders/bulk-status', { from: 'paid', to: 'shipped' }));
  // Requests that fail: a bad payload and a non-staff user trying a staff action.
  await call(baseUrl, BOB, 'POST', '/api/orders', { customerId: 1, items: [] });
  await call(baseUrl, BOB, 'POST', '/api/orders/bulk-status', { from: 'shipped', to: 'delivered' });
  // A direct database write with no application context, as someone in psql would make it.
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'psql' });
  await client.connect();
  try {
    await client.query("UPDATE products SET stock = stock + 100 WHERE sku = 'MUG-01'");
  } finally {
    await client.end();
  }
  // An analyst's own role reprices a product and claims, in a comment, that Alice did it through the shop.
  await analystRepricesWithClaim(databaseUrl, analyst);
}
