import type { Change, ChangesResponse, TablesResponse } from '@auditrum/core/admin';
import type { Locator, Page } from '@playwright/test';
import { expect, test } from '@playwright/test';
import type pg from 'pg';
import { FRAMEWORKS } from '../sample-apps/frameworks.ts';
import { READ_ONLY_ADMIN_PATH } from '../sample-apps/shop.ts';
import { shopApi } from '../support/shop-api.ts';
import { withDatabase } from '../support/with-database.ts';

/**
 * Acting on history from the admin, against each sample app on a real PostgreSQL: revert a change, restore a
 * version of a row, bring a deleted row back from the recycle bin, undo a whole request, a conflict shown and
 * overridden; after each write the shop's database is read to check what it did, and the log to check how it was
 * recorded (source restore, the reason, the admin user). A read-only mount of the same log shows no write button
 * and refuses the write. Carol (staff) writes, so that the other spec's filters by Alice and Bob are untouched.
 */
const BOB = { id: '2' };
const CAROL = { id: '3', label: 'carol@shop.test' };
const screenshotDir = new URL('../screenshots/', import.meta.url).pathname;

/** The changes the admin API lists for a filter (as Carol), newest first. */
async function changesOf(base: string, filters: Record<string, string>): Promise<Change[]> {
  const response = await fetch(`${base}/audit-admin/api/changes?${new URLSearchParams(filters)}`, {
    headers: { 'x-shop-user': CAROL.id },
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as ChangesResponse).items;
}

/** Opens a write's confirmation, waits for the server's dry run, gives the reason and confirms; returns the dialog. */
async function confirmWrite(page: Page, button: Locator, reason: string, shot?: () => Promise<unknown>) {
  await button.click();
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByText('SQL').first()).toBeVisible();
  await dialog.getByLabel(/Reason/).fill(reason);
  await shot?.();
  await dialog.getByRole('button', { name: 'Confirm' }).click();
  await expect(dialog.getByRole('status')).toContainText('written and recorded');
  return dialog;
}

/** The change ids a finished write's dialog links to. */
async function newChangeIds(dialog: Locator): Promise<string[]> {
  const links = await dialog.getByRole('link', { name: /^New change \d+$/ }).allInnerTexts();
  return links.map((text) => text.replace('New change ', ''));
}

/** How the log recorded the admin's own writes: source, reason and actor of each. */
async function recorded(db: pg.Client, ids: string[]) {
  const { rows } = await db.query<{ source: string; reason: string; actor_id: string }>(
    `SELECT context->>'source' AS source, context->>'reason' AS reason, actor_id
     FROM auditrum.changes WHERE id = ANY($1::bigint[]) ORDER BY id`,
    [ids],
  );
  return rows;
}

for (const framework of FRAMEWORKS) {
  test(`${framework}: revert, restore, undelete and undo from the admin, checked in the database; a conflict; a read-only mount`, async ({
    page,
  }) => {
    const base = process.env[`E2E_${framework.toUpperCase()}_URL`];
    const databaseUrl = process.env[`E2E_${framework.toUpperCase()}_DB_URL`];
    if (!base || !databaseUrl) throw new Error('the global setup did not start the sample apps');
    const shot = (name: string) =>
      page.screenshot({ path: `${screenshotDir}${framework}-writes-${name}.png`, fullPage: true });
    const note = `writes ${framework}`;
    const order = await shopApi(base, BOB.id, 'POST', '/api/orders', {
      customerId: 2,
      items: [{ productId: 2, qty: 1 }],
      note,
    });
    await shopApi(base, CAROL.id, 'PATCH', `/api/orders/${order.id}`, { status: 'paid' });
    const [paid] = await changesOf(base, { table: 'public.orders', key: String(order.id), operation: 'UPDATE' });
    if (!paid) throw new Error('the status change was not recorded');

    await test.step('Carol signs in: the tables page links each table to its recycle bin and its rows', async () => {
      await page.goto(`${base}/`);
      await page.getByRole('button', { name: /Sign in as Carol Clerk/ }).click();
      await expect(page).toHaveURL(`${base}/audit-admin/`);
      await page.getByRole('link', { name: 'Tables' }).click();
      await expect(page.getByRole('heading', { name: 'public.order_items' })).toBeVisible();
      await shot('01-tables');
    });

    await test.step('revert a change: the dry run diff, a reason, the new change linked; the row is back', async () => {
      await page.goto(`${base}/audit-admin/changes/${paid.id}`);
      const button = page.getByRole('button', { name: 'Revert this change' });
      const dialog = await confirmWrite(page, button, 'taken by mistake', async () => {
        const status = page.getByRole('dialog').locator('tr', { hasText: 'status' });
        await expect(status.locator('td.diff-before')).toHaveText('paid');
        await expect(status.locator('td.diff-after')).toHaveText('draft');
        await shot('02-revert-confirm');
      });
      const ids = await newChangeIds(dialog);
      expect(ids).toHaveLength(1);
      await shot('03-revert-done');
      await withDatabase(databaseUrl, async (db) => {
        const { rows } = await db.query('SELECT status FROM orders WHERE id = $1', [order.id]);
        expect(rows).toEqual([{ status: 'draft' }]);
        expect(await recorded(db, ids)).toEqual([
          { source: 'restore', reason: 'taken by mistake', actor_id: CAROL.id },
        ]);
      });
      await dialog.getByRole('link', { name: `New change ${ids[0]}` }).click();
      await expect(page).toHaveURL(new RegExp(`/audit-admin/changes/${ids[0]}$`));
      await expect(page.locator('dl.facts')).toContainText('taken by mistake');
      await expect(page.locator('dl.facts')).toContainText(CAROL.label);
      await expect(page.locator('dl.facts').getByRole('link', { name: `change ${paid.id}` })).toBeVisible();
      await shot('04-revert-recorded');
    });

    await test.step('a conflict: a later change to the same field is named, and overriding it is a choice', async () => {
      await shopApi(base, CAROL.id, 'PATCH', `/api/orders/${order.id}`, { note: 'first note' });
      await shopApi(base, BOB.id, 'PATCH', `/api/orders/${order.id}`, { note: 'second note' });
      const [second, first] = await changesOf(base, { table: 'public.orders', key: String(order.id), q: 'note' });
      if (!first || !second) throw new Error('the note changes were not recorded');
      await page.goto(`${base}/audit-admin/changes/${first.id}`);
      await page.getByRole('button', { name: 'Revert this change' }).click();
      const dialog = page.getByRole('dialog');
      const conflicts = dialog.getByRole('region', { name: /Conflicts/ });
      await expect(conflicts).toContainText(second.id);
      await expect(conflicts).toContainText('can be overridden');
      await dialog.getByLabel(/Reason/).fill('the first note was wrong');
      await expect(dialog.getByRole('button', { name: 'Confirm' })).toBeDisabled();
      await shot('05-conflict');
      await dialog.getByLabel(/Write anyway/).check();
      await dialog.getByRole('button', { name: 'Confirm' }).click();
      await expect(dialog.getByRole('status')).toContainText('written and recorded');
      await withDatabase(databaseUrl, async (db) => {
        const { rows } = await db.query('SELECT note FROM orders WHERE id = $1', [order.id]);
        expect(rows).toEqual([{ note }]);
      });
    });

    await test.step("restore a version from the row's history: the row as it was then", async () => {
      await shopApi(base, BOB.id, 'PATCH', '/api/customers/3', { name: `Fay ${framework}` });
      await shopApi(base, BOB.id, 'PATCH', '/api/customers/3', { tier: 'gold' });
      await page.goto(`${base}/audit-admin/history?table=public.customers&key=3`);
      // Newest first: version 1 is the last.
      const first = page.locator('ol.versions > li').last();
      await expect(first).toContainText('Version 1');
      const dialog = await confirmWrite(
        page,
        first.getByRole('button', { name: 'Restore this version' }),
        'back to the seed data',
        () => shot('06-restore-confirm'),
      );
      const ids = await newChangeIds(dialog);
      expect(ids).toHaveLength(1);
      await withDatabase(databaseUrl, async (db) => {
        const { rows } = await db.query('SELECT name, tier FROM customers WHERE id = 3');
        expect(rows).toEqual([{ name: 'Fay Fischer', tier: 'standard' }]);
        expect(await recorded(db, ids)).toEqual([
          { source: 'restore', reason: 'back to the seed data', actor_id: CAROL.id },
        ]);
      });
      await dialog.getByRole('button', { name: 'Close' }).click();
      await expect(page.locator('ol.versions > li').first()).toContainText('back to the seed data');
    });

    await test.step('bring a deleted row back from the recycle bin', async () => {
      const bag = await shopApi(base, BOB.id, 'POST', '/api/orders', {
        customerId: 2,
        items: [
          { productId: 2, qty: 1 },
          { productId: 3, qty: 2 },
        ],
      });
      const items = bag.items as { id: number; qty: number; unit_price: string }[];
      const removed = items[1] as (typeof items)[number];
      await shopApi(base, BOB.id, 'DELETE', `/api/orders/${bag.id}/items/${removed.id}`);
      await page.goto(`${base}/audit-admin/tables`);
      await page
        .getByRole('listitem')
        .filter({ has: page.getByRole('heading', { name: 'public.order_items' }) })
        .getByRole('link', { name: 'Recycle bin' })
        .click();
      const row = page.locator(`li.deleted-row[data-row-key="${removed.id}"]`);
      await expect(row).toBeVisible();
      await shot('07-recycle-bin');
      const dialog = await confirmWrite(page, row.getByRole('button', { name: 'Restore' }), 'deleted by mistake');
      await shot('08-undelete-done');
      expect(await newChangeIds(dialog)).toHaveLength(1);
      await withDatabase(databaseUrl, async (db) => {
        const { rows } = await db.query('SELECT order_id, product_id, qty, unit_price FROM order_items WHERE id = $1', [
          removed.id,
        ]);
        expect(rows).toEqual([{ order_id: bag.id, product_id: 3, qty: removed.qty, unit_price: removed.unit_price }]);
      });
      await dialog.getByRole('button', { name: 'Close' }).click();
      await expect(row).toHaveCount(0);
    });

    await test.step('undo every change of a request: the order, its item and the stock, all back', async () => {
      const stockBefore = await withDatabase(
        databaseUrl,
        async (db) => (await db.query('SELECT stock FROM products WHERE id = 2')).rows[0].stock as number,
      );
      const undone = await shopApi(base, BOB.id, 'POST', '/api/orders', {
        customerId: 1,
        items: [{ productId: 2, qty: 3 }],
      });
      const [inserted] = await changesOf(base, { table: 'public.orders', key: String(undone.id), operation: 'INSERT' });
      const requestId = inserted?.requestId;
      if (!requestId) throw new Error('the order was not recorded with its request');
      await page.goto(`${base}/audit-admin/requests/${requestId}`);
      const dialog = await confirmWrite(
        page,
        page.getByRole('button', { name: 'Undo all 4 changes' }),
        'test order',
        () => shot('09-undo-confirm'),
      );
      const ids = await newChangeIds(dialog);
      expect(ids).toHaveLength(4);
      await withDatabase(databaseUrl, async (db) => {
        expect((await db.query('SELECT 1 FROM orders WHERE id = $1', [undone.id])).rowCount).toBe(0);
        expect((await db.query('SELECT 1 FROM order_items WHERE order_id = $1', [undone.id])).rowCount).toBe(0);
        expect((await db.query('SELECT stock FROM products WHERE id = 2')).rows).toEqual([{ stock: stockBefore }]);
        const how = await recorded(db, ids);
        expect(new Set(how.map((row) => JSON.stringify(row)))).toEqual(
          new Set([JSON.stringify({ source: 'restore', reason: 'test order', actor_id: CAROL.id })]),
        );
      });
    });

    await test.step('the read-only mount: the same change, no write button, and the write refused', async () => {
      await page.goto(`${base}${READ_ONLY_ADMIN_PATH}/changes/${paid.id}`);
      await expect(page.getByRole('heading', { name: /UPDATE public\.orders/ })).toBeVisible();
      const tables = await page.evaluate(async () => (await fetch('api/tables')).json());
      expect((tables as TablesResponse).canWrite).toBe(false);
      await expect(page.getByRole('button', { name: /Revert|Undo|Restore/ })).toHaveCount(0);
      await shot('10-read-only');
      const refused = await page.evaluate(async (change) => {
        const response = await fetch('api/revert', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ change, reason: 'from the read-only admin' }),
        });
        return { status: response.status, body: await response.json() };
      }, paid.id);
      expect(refused).toMatchObject({ status: 405, body: { error: { code: 'method_not_allowed' } } });
      await withDatabase(databaseUrl, async (db) => {
        const { rows } = await db.query(
          `SELECT count(*)::int AS n FROM auditrum.changes WHERE context->>'reason' = 'from the read-only admin'`,
        );
        expect(rows).toEqual([{ n: 0 }]);
      });
    });

    await test.step('a browser not signed in gets a page that says so and links the sign-in page', async () => {
      const anonymous = await page.context().browser()?.newPage();
      if (!anonymous) throw new Error('no browser');
      try {
        await anonymous.goto(`${base}/audit-admin/changes?table=public.orders`);
        await expect(anonymous.getByRole('heading', { name: 'Sign in to see the audit log' })).toBeVisible();
        await expect(anonymous.locator('body')).not.toContainText('"error"');
        await expect(anonymous.getByRole('link', { name: 'Sign in' })).toHaveAttribute(
          'href',
          `/?next=${encodeURIComponent('/audit-admin/changes?table=public.orders')}`,
        );
        await anonymous.screenshot({ path: `${screenshotDir}${framework}-writes-11-refused.png` });
      } finally {
        await anonymous.close();
      }
    });

    await test.step('a user who may read but not write: the writable mount refuses a non-staff write', async () => {
      const response = await fetch(`${base}/audit-admin/api/revert`, {
        method: 'POST',
        headers: { 'x-shop-user': BOB.id, 'content-type': 'application/json', origin: base },
        body: JSON.stringify({ change: paid.id, reason: 'not allowed' }),
      });
      expect(response.status).toBe(403);
    });
  });
}
