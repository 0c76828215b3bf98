/**
 * The sample shop behind every sample app (sample-apps/frameworks.ts): its tables, its fake users and what its HTTP
 * API does, independent of the framework. Used by `pnpm demo` and by the end-to-end tests.
 */
import type { TableRules } from '@auditrum/core';
import type pg from 'pg';

/** The products table's size limit for a tracked value, in bytes. */
export const PRODUCT_TEXT_LIMIT = 1024;

/** The tables the shop's audit log tracks, with their tracking rules. */
export const SHOP_TABLES: Readonly<Record<string, TableRules>> = {
  'public.customers': {},
  // A description longer than 1 KiB is kept as its size and hash only (a long text is not worth a copy per change).
  'public.products': { maxValueBytes: PRODUCT_TEXT_LIMIT },
  // Timestamps that every write bumps would only add noise to each change.
  'public.orders': { exclude: ['updated_at'] },
  'public.order_items': {},
};

/** A signed-in user of the shop. Staff may open the audit admin. */
export interface ShopUser {
  id: string;
  name: string;
  email: string;
  isStaff: boolean;
}

/** The fake login's users (no passwords: the login page just picks one). */
export const USERS: readonly ShopUser[] = [
  { id: '1', name: 'Alice Admin', email: 'alice@shop.test', isStaff: true },
  { id: '2', name: 'Bob Buyer', email: 'bob@shop.test', isStaff: false },
  { id: '3', name: 'Carol Clerk', email: 'carol@shop.test', isStaff: true },
];

/** The cookie the login page sets, and the header API clients (the demo, the tests) may send instead. */
export const USER_COOKIE = 'shop_user';
export const USER_HEADER = 'x-shop-user';

/** The `set-cookie` value that signs `user` in, for the apps whose framework has no cookie helper. */
export function loginCookie(user: ShopUser): string {
  return `${USER_COOKIE}=${user.id}; Path=/; HttpOnly; SameSite=Lax`;
}

/** The `set-cookie` value that signs out. */
export const LOGOUT_COOKIE = `${USER_COOKIE}=; Path=/; Max-Age=0`;

/** The user of a request: the `x-shop-user` header (a user id) or else the login cookie. */
export function userOfRequest(
  headerValue: string | string[] | undefined,
  cookieHeader: string | undefined,
): ShopUser | undefined {
  const fromHeader = Array.isArray(headerValue) ? headerValue[0] : headerValue;
  const fromCookie = cookieHeader
    ?.split(';')
    .map((part) => part.trim().split('='))
    .find(([name]) => name === USER_COOKIE)?.[1];
  const id = fromHeader ?? fromCookie;
  return USERS.find((user) => user.id === id);
}

/** Where every app also mounts the admin without `authorizeWrite`: the same log, read-only. */
export const READ_ONLY_ADMIN_PATH = '/audit-admin-readonly';

/** Who may see the audit admin: staff; someone not signed in is asked to (the admin links the login page). */
function staffOnly(user: ShopUser | undefined): boolean | 'unauthenticated' {
  return user ? user.isStaff : 'unauthenticated';
}

/**
 * Who a write through the admin is recorded under: the signed-in staff member (`authorizeWrite` let only staff
 * through, so there is one).
 */
function adminActor(user: ShopUser | undefined): { id: string; label: string } {
  if (!user)
    throw new Error('a write through the admin without a signed-in user: authorizeWrite should have refused it');
  return { id: user.id, label: user.email };
}

/**
 * The read-only admin's options beside its pool, in any framework: `userOf` finds the signed-in user on the
 * framework's request (the admin's `R`).
 */
export function readOnlyAdminAccess<R>(userOf: (request: R) => ShopUser | undefined) {
  return { authorize: (request: R) => staffOnly(userOf(request)), loginUrl: '/' };
}

/**
 * The admin's options beside its pool: staff may also put data back (revert, restore, undelete, undo), recorded under
 * their own name.
 */
export function adminAccess<R>(userOf: (request: R) => ShopUser | undefined) {
  return {
    ...readOnlyAdminAccess(userOf),
    authorizeWrite: (request: R) => userOf(request)?.isStaff === true,
    actor: (request: R) => adminActor(userOf(request)),
  };
}

/** A failure the API reports to its client, with its HTTP status. */
export class ShopError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS customers (
  id serial PRIMARY KEY,
  name text NOT NULL,
  email text NOT NULL UNIQUE,
  tier text NOT NULL DEFAULT 'standard',
  address jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS products (
  id serial PRIMARY KEY,
  sku text NOT NULL UNIQUE,
  name text NOT NULL,
  price numeric(10, 2) NOT NULL CHECK (price >= 0),
  stock integer NOT NULL DEFAULT 0,
  description text
);
CREATE TABLE IF NOT EXISTS orders (
  id serial PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES customers,
  status text NOT NULL DEFAULT 'draft',
  total numeric(10, 2) NOT NULL DEFAULT 0,
  note text,
  shipping jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS order_items (
  id serial PRIMARY KEY,
  order_id integer NOT NULL REFERENCES orders ON DELETE CASCADE,
  product_id integer NOT NULL REFERENCES products,
  qty integer NOT NULL CHECK (qty > 0),
  unit_price numeric(10, 2) NOT NULL
);`;

const SEED_SQL = `
INSERT INTO customers (name, email, tier, address) VALUES
  ('Dana Diaz', 'dana@example.com', 'standard', '{"city": "Lisbon", "zip": "1100-148"}'),
  ('Eli Evans', 'eli@example.com', 'gold', '{"city": "Leeds", "zip": "LS1 4DY"}'),
  ('Fay Fischer', 'fay@example.com', 'standard', '{"city": "Graz", "zip": "8010"}')
ON CONFLICT (email) DO NOTHING;
INSERT INTO products (sku, name, price, stock, description) VALUES
  ('MUG-01', 'Enamel mug', 12.50, 40, 'White enamel, 350 ml.'),
  ('TEE-02', 'Logo T-shirt', 24.00, 25, 'Organic cotton.'),
  ('CAP-03', 'Cap', 18.00, 12, 'One size.'),
  ('BAG-04', 'Tote bag', 9.90, 60, 'Canvas, 10 l.')
ON CONFLICT (sku) DO NOTHING;`;

/** Creates the shop's tables (idempotent). */
export async function createShopSchema(pool: pg.Pool): Promise<void> {
  await pool.query(SCHEMA_SQL);
}

/** Its customers and products (idempotent). */
export async function seedShop(pool: pg.Pool): Promise<void> {
  await pool.query(SEED_SQL);
}

export const ORDER_STATUSES = ['draft', 'paid', 'shipped', 'delivered', 'cancelled'] as const;

function positiveInt(value: unknown, name: string): number {
  const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number <= 0) {
    throw new ShopError(400, `${name} must be a positive integer`);
  }
  return number;
}

function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ShopError(400, 'send a JSON object');
  return body as Record<string, unknown>;
}

function optionalText(value: unknown, name: string, max = 500): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > max)
    throw new ShopError(400, `${name} must be a string of at most ${max} characters`);
  return value;
}

function status(value: unknown): (typeof ORDER_STATUSES)[number] {
  if (!ORDER_STATUSES.includes(value as never))
    throw new ShopError(400, `status must be one of ${ORDER_STATUSES.join(', ')}`);
  return value as (typeof ORDER_STATUSES)[number];
}

function requireStaff(user: ShopUser | undefined): void {
  if (!user) throw new ShopError(401, 'sign in first (cookie from /login, or the x-shop-user header)');
  if (!user.isStaff) throw new ShopError(403, 'staff only');
}

/** The shop's operations; each route of both apps calls one of these. */
export function shop(pool: pg.Pool) {
  return {
    async listProducts() {
      return (await pool.query('SELECT id, sku, name, price, stock, description FROM products ORDER BY id')).rows;
    },

    async updateProduct(user: ShopUser | undefined, idParam: unknown, body: unknown) {
      requireStaff(user);
      const id = positiveInt(idParam, 'id');
      const input = objectBody(body);
      const price = input.price === undefined ? null : Number(input.price);
      if (price !== null && !(price >= 0)) throw new ShopError(400, 'price must be a number ≥ 0');
      const stock = input.stock === undefined ? null : positiveInt(input.stock, 'stock');
      const description = optionalText(input.description, 'description', 20_000);
      const { rows } = await pool.query(
        `UPDATE products SET price = coalesce($2, price), stock = coalesce($3, stock),
           description = coalesce($4, description)
         WHERE id = $1 RETURNING *`,
        [id, price, stock, description ?? null],
      );
      if (!rows[0]) throw new ShopError(404, `no product ${id}`);
      return rows[0];
    },

    async updateCustomer(user: ShopUser | undefined, idParam: unknown, body: unknown) {
      if (!user) throw new ShopError(401, 'sign in first');
      const id = positiveInt(idParam, 'id');
      const input = objectBody(body);
      const name = optionalText(input.name, 'name', 200);
      const tier = optionalText(input.tier, 'tier', 20);
      const address = input.address;
      if (address !== undefined && (typeof address !== 'object' || address === null))
        throw new ShopError(400, 'address must be an object');
      const { rows } = await pool.query(
        `UPDATE customers SET name = coalesce($2, name), tier = coalesce($3, tier),
           address = CASE WHEN $4::jsonb IS NULL THEN address ELSE address || $4::jsonb END
         WHERE id = $1 RETURNING *`,
        [id, name ?? null, tier ?? null, address === undefined ? null : JSON.stringify(address)],
      );
      if (!rows[0]) throw new ShopError(404, `no customer ${id}`);
      return rows[0];
    },

    async listOrders() {
      return (await pool.query('SELECT * FROM orders ORDER BY id DESC LIMIT 100')).rows;
    },

    async getOrder(idParam: unknown) {
      const id = positiveInt(idParam, 'id');
      const { rows } = await pool.query('SELECT * FROM orders WHERE id = $1', [id]);
      if (!rows[0]) throw new ShopError(404, `no order ${id}`);
      const items = await pool.query('SELECT * FROM order_items WHERE order_id = $1 ORDER BY id', [id]);
      return { ...rows[0], items: items.rows };
    },

    /** An order with its items, priced from the products, in one transaction. */
    async createOrder(user: ShopUser | undefined, body: unknown) {
      if (!user) throw new ShopError(401, 'sign in first');
      const input = objectBody(body);
      const customerId = positiveInt(input.customerId, 'customerId');
      if (!Array.isArray(input.items) || input.items.length === 0 || input.items.length > 50) {
        throw new ShopError(400, 'items must be a list of 1 to 50 {productId, qty}');
      }
      const items = input.items.map((item: unknown, i: number) => {
        const entry = objectBody(item);
        return {
          productId: positiveInt(entry.productId, `items[${i}].productId`),
          qty: positiveInt(entry.qty, `items[${i}].qty`),
        };
      });
      const note = optionalText(input.note, 'note');
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const order = await client.query(
          `INSERT INTO orders (customer_id, note, shipping) VALUES ($1, $2, $3) RETURNING id`,
          [customerId, note ?? null, JSON.stringify({ method: 'standard', address: null })],
        );
        const orderId = order.rows[0].id as number;
        for (const item of items) {
          const product = await client.query(
            'UPDATE products SET stock = stock - $2 WHERE id = $1 AND stock >= $2 RETURNING price',
            [item.productId, item.qty],
          );
          if (!product.rows[0]) throw new ShopError(400, `no product ${item.productId} with ${item.qty} in stock`);
          await client.query(
            'INSERT INTO order_items (order_id, product_id, qty, unit_price) VALUES ($1, $2, $3, $4)',
            [orderId, item.productId, item.qty, product.rows[0].price],
          );
        }
        await client.query(
          `UPDATE orders SET total = (SELECT sum(qty * unit_price) FROM order_items WHERE order_id = $1) WHERE id = $1`,
          [orderId],
        );
        await client.query('COMMIT');
        return this.getOrder(orderId);
      } catch (error) {
        await client.query('ROLLBACK');
        if (error instanceof ShopError) throw error;
        if ((error as { code?: string }).code === '23503') throw new ShopError(400, `no customer ${customerId}`);
        throw error;
      } finally {
        client.release();
      }
    },

    async updateOrder(user: ShopUser | undefined, idParam: unknown, body: unknown) {
      if (!user) throw new ShopError(401, 'sign in first');
      const id = positiveInt(idParam, 'id');
      const input = objectBody(body);
      const next = input.status === undefined ? null : status(input.status);
      const note = optionalText(input.note, 'note');
      const shipping = input.shipping;
      if (shipping !== undefined && (typeof shipping !== 'object' || shipping === null))
        throw new ShopError(400, 'shipping must be an object');
      const { rows } = await pool.query(
        `UPDATE orders SET status = coalesce($2, status), note = coalesce($3, note),
           shipping = CASE WHEN $4::jsonb IS NULL THEN shipping ELSE shipping || $4::jsonb END, updated_at = now()
         WHERE id = $1 RETURNING *`,
        [id, next, note ?? null, shipping === undefined ? null : JSON.stringify(shipping)],
      );
      if (!rows[0]) throw new ShopError(404, `no order ${id}`);
      return rows[0];
    },

    /** Moves every order in one status to another, in one statement (e.g. all paid orders shipped). */
    async bulkStatus(user: ShopUser | undefined, body: unknown) {
      requireStaff(user);
      const input = objectBody(body);
      const { rowCount } = await pool.query('UPDATE orders SET status = $2, updated_at = now() WHERE status = $1', [
        status(input.from),
        status(input.to),
      ]);
      return { updated: rowCount ?? 0 };
    },

    async deleteOrderItem(user: ShopUser | undefined, orderParam: unknown, itemParam: unknown) {
      if (!user) throw new ShopError(401, 'sign in first');
      const orderId = positiveInt(orderParam, 'orderId');
      const itemId = positiveInt(itemParam, 'itemId');
      const { rowCount } = await pool.query('DELETE FROM order_items WHERE id = $1 AND order_id = $2', [
        itemId,
        orderId,
      ]);
      if (!rowCount) throw new ShopError(404, `no item ${itemId} in order ${orderId}`);
      await pool.query(
        `UPDATE orders SET total = coalesce((SELECT sum(qty * unit_price) FROM order_items WHERE order_id = $1), 0),
           updated_at = now() WHERE id = $1`,
        [orderId],
      );
      return this.getOrder(orderId);
    },
  };
}

export type Shop = ReturnType<typeof shop>;

/** The login page: one button per user (a fake login for the demo and the tests). */
export function loginPage(current: ShopUser | undefined): string {
  const html = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const buttons = USERS.map(
    (user) =>
      `<li><form method="post" action="/login"><input type="hidden" name="user" value="${user.id}">` +
      `<button type="submit">Sign in as ${html(user.name)} (${html(user.email)}${user.isStaff ? ', staff' : ''})</button></form></li>`,
  ).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sample shop: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}li{margin:.5rem 0;list-style:none}button{font:inherit;padding:.4rem .8rem}</style>
</head><body><h1>Sample shop</h1>
<p>${current ? `Signed in as ${html(current.name)}.` : 'Not signed in.'} The audit admin is at <a href="/audit-admin/">/audit-admin/</a> (staff only).</p>
<ul>${buttons}</ul></body></html>`;
}
