import type { ChangesResponse } from '@auditrum/core/admin';
import { expect, test } from '@playwright/test';
import { FRAMEWORKS } from '../sample-apps/frameworks.ts';
import { shopApi } from '../support/shop-api.ts';
import { withDatabase } from '../support/with-database.ts';

/**
 * Reading history in the admin, against each sample app: who set each field of a row (blame) and one field's
 * values, a table as of a time with its CSV download, and a transaction's page. Read-only: nothing is written here.
 */
const ALICE = { id: '1', label: 'alice@shop.test' };
const BOB = { id: '2', label: 'bob@shop.test' };
const screenshotDir = new URL('../screenshots/', import.meta.url).pathname;

/** The database's clock, as an instant with its zone: "as of" a time between two changes. */
async function databaseNow(url: string): Promise<string> {
  const { rows } = await withDatabase(url, (client) =>
    client.query<{ t: string }>(
      `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`,
    ),
  );
  return rows[0]?.t as string;
}

for (const framework of FRAMEWORKS) {
  test(`${framework}: blame, a field's values, a table as of a time, the actor filter by label, the keyboard, large values, a narrow screen, a transaction`, async ({
    page,
  }) => {
    const base = process.env[`E2E_${framework.toUpperCase()}_URL`];
    const databaseUrl = process.env[`E2E_${framework.toUpperCase()}_DB_URL`];
    if (!base || !databaseUrl) throw new Error('the global setup did not start the sample apps');
    const shot = (name: string) =>
      page.screenshot({ path: `${screenshotDir}${framework}-views-${name}.png`, fullPage: true });
    const order = await shopApi(base, BOB.id, 'POST', '/api/orders', {
      customerId: 3,
      items: [{ productId: 1, qty: 1 }],
      note: `views ${framework}`,
    });
    const beforePayment = await databaseNow(databaseUrl);
    await shopApi(
      base,
      ALICE.id,
      'PATCH',
      `/api/orders/${order.id}`,
      { status: 'paid' },
      { 'x-change-reason': 'paid by card' },
    );
    await page.context().addCookies([{ name: 'shop_user', value: ALICE.id, url: base }]);

    await test.step('the row now: each field with who set it, when and why; a field opens its values', async () => {
      await page.goto(`${base}/audit-admin/history?table=public.orders&key=${order.id}`);
      const now = page.getByRole('region', { name: 'The row now, and who set each field' });
      const status = now.locator('tr', { has: page.getByRole('link', { name: 'status', exact: true }) });
      await expect(status).toContainText('paid');
      await expect(status).toContainText(ALICE.label);
      await expect(status).toContainText('“paid by card”');
      const note = now.locator('tr', { has: page.getByRole('link', { name: 'note', exact: true }) });
      await expect(note).toContainText(`views ${framework}`);
      await expect(note).toContainText(BOB.label);
      // The table's columns in their order, not the stored values' order.
      await expect(now.locator('tbody th')).toHaveText([
        'id',
        'customer_id',
        'status',
        'total',
        'note',
        'shipping',
        'created_at',
        'updated_at',
      ]);
      await shot('01-blame');
      await status.getByRole('link', { name: 'status', exact: true }).click();
      const values = page.getByRole('region', { name: 'Every value of status' });
      await expect(values.getByRole('listitem')).toHaveCount(2);
      await expect(values.getByRole('listitem').first()).toContainText('paid');
      await expect(values.getByRole('listitem').last()).toContainText('draft');
      await shot('02-field-values');
    });

    await test.step('the table as of a time before the payment, and its CSV download', async () => {
      await page.goto(
        `${base}/audit-admin/table-as-of?table=public.orders&at=${encodeURIComponent(beforePayment)}&key=${order.id}`,
      );
      const row = page.locator(`tr[data-row-key="${order.id}"]`);
      await expect(row).toContainText('draft');
      await expect(row).not.toContainText('paid');
      await shot('03-table-as-of');
      const href = await page.getByRole('link', { name: 'CSV' }).getAttribute('href');
      const csv = await page.request.get(new URL(href ?? '', page.url()).toString());
      expect(csv.status()).toBe(200);
      expect(csv.headers()['content-disposition']).toContain('attachment');
      const lines = (await csv.text()).trimEnd().split('\n');
      expect(lines[0]).toBe('id,customer_id,status,total,note,shipping,created_at,updated_at,unknown');
      const line = lines.find((text) => text.startsWith(`${order.id},`));
      expect(line).toContain(',draft,');
      // updated_at is left out by the table's rules: unknown, and said so, not an empty value.
      expect(line).toMatch(/,updated_at:excluded$/);
    });

    await test.step('the actor filter takes a label, suggested as one types', async () => {
      await page.goto(`${base}/audit-admin/changes`);
      const actor = page.getByRole('combobox', { name: /^Actor/ });
      await actor.pressSequentially('alice@shop', { delay: 20 });
      await expect(page.locator('datalist option[value="1"]')).toHaveText(ALICE.label);
      await actor.fill(ALICE.label);
      await expect(actor).toHaveValue(ALICE.id);
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await expect(page).toHaveURL(new RegExp(`[?&]actor=${ALICE.id}(&|$)`));
      // The list empties while the filtered page loads: read the rows once they are there.
      const actors = page.locator('table.changes-table td.col-actor');
      await expect(actors.first()).toBeVisible();
      expect(new Set(await actors.allInnerTexts())).toEqual(new Set([ALICE.label]));
    });

    await test.step('the keyboard alone: / to search, j and k along the rows, Enter to open', async () => {
      await page.goto(`${base}/audit-admin/changes?table=public.orders`);
      await expect(page.locator('table.changes-table tbody tr').first()).toBeVisible();
      await page.keyboard.press('/');
      await expect(page.getByLabel('Search in changed values')).toBeFocused();
      await page.keyboard.type('paid');
      await page.keyboard.press('Enter');
      await expect(page).toHaveURL(/[?&]q=paid(&|$)/);
      await expect(page.locator('table.changes-table tbody tr').first()).toBeVisible();
      await page.keyboard.press('j');
      const first = page.locator('table.changes-table tbody tr').first().locator('a.summary');
      await expect(first).toBeFocused();
      await page.keyboard.press('j');
      await page.keyboard.press('k');
      await expect(first).toBeFocused();
      const id = await page.locator('table.changes-table tbody tr').first().getAttribute('data-change-id');
      await shot('05-keyboard');
      await page.keyboard.press('Enter');
      await expect(page).toHaveURL(new RegExp(`/audit-admin/changes/${id}$`));
    });

    await test.step('large values fold: a long note clipped, an 80-item JSON array folded', async () => {
      const note = `${'Leave the parcel with the neighbour at number 12. '.repeat(9)}END`;
      const items = Array.from({ length: 80 }, (_, i) => ({ sku: `SKU-${i}`, qty: (i % 3) + 1 }));
      await shopApi(base, ALICE.id, 'PATCH', `/api/orders/${order.id}`, { note, shipping: { items } });
      const response = await fetch(
        `${base}/audit-admin/api/changes?table=public.orders&key=${order.id}&column=shipping`,
        { headers: { 'x-shop-user': ALICE.id } },
      );
      const [changed] = ((await response.json()) as ChangesResponse).items;
      if (!changed) throw new Error('the change was not recorded');
      await page.goto(`${base}/audit-admin/changes/${changed.id}`);
      await expect(page.getByRole('button', { name: `Show all ${note.length} characters` })).toBeVisible();
      await expect(page.locator('main')).not.toContainText('END');
      await expect(page.locator('summary', { hasText: '[ 80 items ]' }).first()).toBeVisible();
      const height = await page.evaluate(() => document.documentElement.scrollHeight);
      expect(height).toBeLessThan(2500);
      await shot('06-large-values');
      await page
        .getByRole('button', { name: `Show all ${note.length} characters` })
        .first()
        .click();
      await expect(page.locator('main')).toContainText('END');
    });

    await test.step('a narrow screen: dense change cards', async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`${base}/audit-admin/changes?table=public.orders`);
      const cards = page.locator('table.changes-table tbody tr');
      await expect(cards.first()).toBeVisible();
      const heights = await cards.evaluateAll((rows) => rows.map((row) => row.getBoundingClientRect().height));
      expect(Math.max(...heights)).toBeLessThan(130);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await shot('07-narrow');
      await page.setViewportSize({ width: 1280, height: 900 });
    });

    await test.step("a transaction's page: every change the order's transaction made, over three tables", async () => {
      const response = await fetch(
        `${base}/audit-admin/api/changes?table=public.orders&key=${order.id}&operation=INSERT`,
        { headers: { 'x-shop-user': ALICE.id } },
      );
      const [inserted] = ((await response.json()) as ChangesResponse).items;
      if (!inserted) throw new Error('the order was not recorded');
      await page.goto(`${base}/audit-admin/changes/${inserted.id}`);
      await page.locator('dl.facts').getByRole('link', { name: inserted.txid }).click();
      await expect(page).toHaveURL(new RegExp(`/audit-admin/transactions/${inserted.txid}$`));
      const rows = page.locator('table.changes-table tbody tr');
      await expect(rows).toHaveCount(4);
      await expect(page.locator('table.changes-table td.col-table')).toHaveText([
        'orders',
        'order_items',
        'products',
        'orders',
      ]);
      await expect(page.getByRole('button', { name: 'Undo all 4 changes' })).toBeVisible();
      await shot('04-transaction');
    });
  });
}
