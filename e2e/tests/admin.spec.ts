import type { Page } from '@playwright/test';
import { expect, test } from '@playwright/test';
import { ANALYST_CLAIM, ANALYST_PRODUCT } from '../sample-apps/analyst.ts';
import { FRAMEWORKS } from '../sample-apps/frameworks.ts';
import { PRODUCT_TEXT_LIMIT } from '../sample-apps/shop.ts';
import { shopApi } from '../support/shop-api.ts';

/**
 * The admin against each sample app, on a real PostgreSQL: changes made over HTTP as two users, then, in the
 * browser, filter by each user, open a change and see its diff, follow it to its API call and back to all
 * the call's changes, open the row's history. Each screen is written to e2e/screenshots/.
 */
const ALICE = { id: '1', name: 'Alice Admin', label: 'alice@shop.test' };
const BOB = { id: '2', name: 'Bob Buyer', label: 'bob@shop.test' };
const HOSTILE_NAME = '<img src=x onerror="window.__xss = 1">Dana';

const screenshotDir = new URL('../screenshots/', import.meta.url).pathname;

async function applyActorFilter(page: Page, actorId: string) {
  await page.getByRole('combobox', { name: /^Actor/ }).fill(actorId);
  await page.getByRole('button', { name: 'Apply filters' }).click();
  await expect(page).toHaveURL(new RegExp(`[?&]actor=${actorId}(&|$)`));
  await expect(page.locator('table.changes-table tbody tr').first()).toBeVisible();
}

for (const framework of FRAMEWORKS) {
  test(`${framework}: changes by two users, followed from the list to the diff, the API call and the row history`, async ({
    page,
    browser,
  }) => {
    const base = process.env[`E2E_${framework.toUpperCase()}_URL`];
    if (!base) throw new Error('the global setup did not start the sample apps');
    const shot = (name: string, target: Page = page) =>
      target.screenshot({ path: `${screenshotDir}${framework}-${name}.png`, fullPage: true });

    const order = await test.step('Bob orders and Alice takes the payment, with a reason, over HTTP', async () => {
      const created = await shopApi(base, BOB.id, 'POST', '/api/orders', {
        customerId: 1,
        items: [{ productId: 1, qty: 2 }],
        note: `e2e ${framework}`,
      });
      await shopApi(
        base,
        ALICE.id,
        'PATCH',
        `/api/orders/${created.id}`,
        { status: 'paid' },
        {
          'x-change-reason': 'paid by phone',
          authorization: 'Bearer e2e-secret-token',
        },
      );
      await shopApi(base, BOB.id, 'PATCH', '/api/customers/1', { name: HOSTILE_NAME });
      return created as { id: number };
    });

    await test.step('a user who is not staff gets no data', async () => {
      const denied = await fetch(`${base}/audit-admin/api/changes`, { headers: { 'x-shop-user': BOB.id } });
      expect(denied.status).toBe(403);
      expect(((await denied.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    });

    await test.step('Alice signs in and opens the admin', async () => {
      await page.goto(`${base}/`);
      await page.getByRole('button', { name: /Sign in as Alice Admin/ }).click();
      await expect(page).toHaveURL(`${base}/audit-admin/`);
      await expect(page.getByRole('heading', { name: 'Changes' })).toBeVisible();
      await expect(page.locator('table.changes-table tbody tr').first()).toBeVisible();
      await shot('01-changes');
    });

    await test.step('filter by Bob: only his changes', async () => {
      await applyActorFilter(page, BOB.id);
      const actors = await page.locator('table.changes-table td.col-actor').allInnerTexts();
      expect(actors.length).toBeGreaterThan(0);
      expect(new Set(actors)).toEqual(new Set([BOB.label]));
      // His order, its first fields in the table's column order.
      await expect(
        page.locator('td.col-summary a', { hasText: `id: ${order.id}, customer_id: 1, status: draft` }),
      ).toBeVisible();
      await shot('02-changes-by-bob');
    });

    await test.step('filter by Alice: only hers, with the status change', async () => {
      await applyActorFilter(page, ALICE.id);
      const actors = await page.locator('table.changes-table td.col-actor').allInnerTexts();
      expect(new Set(actors)).toEqual(new Set([ALICE.label]));
      await expect(page.locator('td.col-summary', { hasText: 'status: draft → paid' })).toHaveCount(1);
      await shot('03-changes-by-alice');
    });

    await test.step("the filtered view's CSV export holds the same changes", async () => {
      const href = await page.getByRole('link', { name: 'CSV' }).getAttribute('href');
      expect(href).toContain(`actor=${ALICE.id}`);
      const csv = await page.request.get(new URL(href ?? '', page.url()).toString());
      expect(csv.status()).toBe(200);
      expect(csv.headers()['content-type']).toContain('text/csv');
      expect(csv.headers()['content-disposition']).toContain('attachment');
      const text = await csv.text();
      expect(text).toContain('paid by phone');
      expect(text).not.toContain(BOB.label);
    });

    await test.step('open the change: the changed field in its diff, and its context', async () => {
      await page.locator('td.col-summary a', { hasText: 'status: draft → paid' }).click();
      await expect(page).toHaveURL(/\/audit-admin\/changes\/\d+$/);
      const status = page.locator('tr[data-kind="changed"]', {
        has: page.getByRole('rowheader', { name: /^~?\s*status/ }),
      });
      await expect(status.locator('td.diff-before')).toHaveText('draft');
      await expect(status.locator('td.diff-after')).toHaveText('paid');
      await expect(page.getByText('paid by phone')).toBeVisible();
      await expect(page.getByRole('button', { name: /Show \d+ unchanged fields/ })).toBeVisible();
      await shot('04-change');
    });

    const changeUrl = page.url();
    await test.step('from the change to its API call: masked, with every change it caused', async () => {
      await page.getByRole('link', { name: new RegExp(`^PATCH /api/orders/${order.id} → 200`) }).click();
      await expect(page).toHaveURL(/\/audit-admin\/requests\/[^/]+$/);
      await expect(page.getByRole('heading', { name: `PATCH /api/orders/${order.id}` })).toBeVisible();
      await expect(page.locator('body')).not.toContainText('e2e-secret-token');
      await expect(
        page.locator('table.changes-table td.col-summary', { hasText: 'status: draft → paid' }),
      ).toBeVisible();
      await shot('05-request');
    });

    await test.step('from the call back to all its changes in the list', async () => {
      await page.getByRole('link', { name: /in the changes list/ }).click();
      await expect(page).toHaveURL(/\/audit-admin\/changes\?request=/);
      await expect(
        page.locator('table.changes-table td.col-summary', { hasText: 'status: draft → paid' }),
      ).toBeVisible();
      const requests = await page.locator('table.changes-table td.col-request').allInnerTexts();
      expect(new Set(requests).size).toBe(1);
      await shot('06-changes-of-request');
    });

    await test.step("the row's history: every version, and the row at a chosen time", async () => {
      await page.goto(changeUrl);
      await page.getByRole('link', { name: 'Every version of this row' }).click();
      await expect(page).toHaveURL(/\/audit-admin\/history\?table=public\.orders&key=\d+/);
      const versions = page.locator('ol.versions > li');
      // Newest first.
      await expect(versions.last()).toContainText('INSERT');
      await expect(versions.first()).toContainText('status');
      await page.getByRole('link', { name: 'The row after version 1' }).click();
      await expect(page.locator('dl.record')).toContainText('draft');
      await shot('07-row-history');
    });

    await test.step('requests, actor and a hostile value rendered as text', async () => {
      await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Requests' }).click();
      await expect(page.locator('table.requests-table tbody tr').first()).toBeVisible();
      await shot('08-requests');
      await page.locator('table.requests-table td.col-actor a', { hasText: BOB.label }).first().click();
      await expect(page.getByRole('heading', { name: BOB.label })).toBeVisible();
      await shot('09-actor');
      await page.locator('td.col-summary a', { hasText: 'name: Dana Diaz →' }).click();
      await expect(page.locator('td.diff-after', { hasText: HOSTILE_NAME })).toBeVisible();
      expect(await page.evaluate(() => (window as { __xss?: number }).__xss)).toBeUndefined();
      expect(await page.locator('main img').count()).toBe(0);
    });

    await test.step('the keyboard alone: skip link, a change opened with Enter, the diff toggle with Space', async () => {
      await page.goto(`${base}/audit-admin/changes?actor=${ALICE.id}`);
      await expect(page.locator('table.changes-table tbody tr').first()).toBeVisible();
      await page.keyboard.press('Tab');
      await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused();
      const summary = page.locator('td.col-summary a', { hasText: 'status: draft → paid' });
      for (
        let presses = 0;
        presses < 60 && !(await summary.evaluate((link) => link === document.activeElement));
        presses++
      ) {
        await page.keyboard.press('Tab');
      }
      await expect(summary).toBeFocused();
      await shot('11-keyboard-focus');
      await page.keyboard.press('Enter');
      await expect(page).toHaveURL(/\/audit-admin\/changes\/\d+$/);
      const toggle = page.getByRole('button', { name: /Show \d+ unchanged fields/ });
      await toggle.focus();
      await page.keyboard.press('Space');
      await expect(page.getByRole('button', { name: /Hide \d+ unchanged fields/ })).toHaveAttribute(
        'aria-expanded',
        'true',
      );
      await expect(page.locator('tr[data-kind="unchanged"]').first()).toBeVisible();
    });

    await test.step('a narrow screen', async () => {
      const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
      await phone.context().addCookies([{ name: 'shop_user', value: ALICE.id, url: base }]);
      await phone.goto(`${base}/audit-admin/changes?actor=${ALICE.id}`);
      await expect(phone.locator('table.changes-table tbody tr').first()).toBeVisible();
      await shot('10-changes-narrow', phone);
      await phone.close();
    });
  });
}

for (const framework of FRAMEWORKS) {
  test(`${framework}: a write by another database role shows its claimed context as claimed; a value too large to keep shows its size`, async ({
    page,
  }) => {
    const base = process.env[`E2E_${framework.toUpperCase()}_URL`];
    if (!base) throw new Error('the global setup did not start the sample apps');
    const shot = (name: string) =>
      page.screenshot({ path: `${screenshotDir}${framework}-${name}.png`, fullPage: true });
    await page.context().addCookies([{ name: 'shop_user', value: ALICE.id, url: base }]);
    // The analyst's forged write (sample-apps/analyst.ts) was made when the shop started: it claims to be Alice.
    const repriced = page.locator('td.col-summary a', { hasText: `price: 18 → ${ANALYST_PRODUCT.price}` });

    await test.step('not among the changes of the actor it claims to be', async () => {
      await page.goto(`${base}/audit-admin/changes?actor=${ALICE.id}&table=public.products`);
      await expect(page.getByRole('heading', { name: 'Changes' })).toBeVisible();
      await expect(page.locator('main')).not.toContainText('Loading');
      await expect(repriced).toHaveCount(0);
    });

    await test.step('among the direct database writes, with no actor', async () => {
      await page.goto(`${base}/audit-admin/changes?source=db&table=public.products`);
      await expect(repriced).toHaveCount(1);
      const row = page.locator('table.changes-table tbody tr', { has: repriced });
      await expect(row.locator('td.col-actor')).toHaveText(/^database role shop_analyst_[0-9a-f]{8}claimed context$/);
      await shot('12-direct-writes');
    });

    await test.step('its page: the claimed context set apart as claimed, the real database user, no actor', async () => {
      await repriced.click();
      await expect(page).toHaveURL(/\/audit-admin\/changes\/\d+$/);
      const claimed = page.getByRole('region', { name: 'Claimed context (not trusted)' });
      await expect(claimed).toBeVisible();
      await expect(claimed).toContainText(ANALYST_CLAIM.actor_label);
      await expect(claimed).toContainText(ANALYST_CLAIM.reason);
      await expect(claimed).toContainText(
        /database role shop_analyst_[0-9a-f]{8}, which is not one of the application/,
      );
      const facts = page.locator('dl.facts');
      await expect(facts).toContainText(/Actordatabase role shop_analyst_[0-9a-f]{8}claimed context/);
      await expect(facts).toContainText('direct database write (context only claimed)');
      await expect(facts).not.toContainText(ALICE.label);
      await expect(facts).not.toContainText(ANALYST_CLAIM.reason);
      await expect(page.getByRole('link', { name: ALICE.label })).toHaveCount(0);
      await shot('13-claimed-context');
    });

    await test.step("a description over the table's size limit: its size, never its text", async () => {
      const description = `${framework}: ${'A long product description. '.repeat(Math.ceil(PRODUCT_TEXT_LIMIT / 28))}`;
      const bytes = Buffer.byteLength(description);
      expect(bytes).toBeGreaterThan(PRODUCT_TEXT_LIMIT);
      await shopApi(base, ALICE.id, 'PATCH', '/api/products/4', { description });
      await page.goto(`${base}/audit-admin/changes?actor=${ALICE.id}&table=public.products`);
      const summary = page.locator('td.col-summary a', { hasText: 'description:' }).first();
      await expect(summary).toBeVisible();
      await shot('14-too-large-in-list');
      await summary.click();
      await expect(page).toHaveURL(/\/audit-admin\/changes\/\d+$/);
      const tooLarge = `too large to keep (${bytes.toLocaleString('en')} bytes): cannot be shown or restored`;
      await expect(page.locator('td.diff-after', { hasText: tooLarge })).toBeVisible();
      await expect(page.locator('main')).not.toContainText('A long product description.');
      await shot('15-too-large-value');
      await page.getByRole('link', { name: 'Every version of this row' }).click();
      await expect(page.locator('ol.versions > li').first()).toContainText(tooLarge);
      await shot('16-too-large-in-history');
    });
  });
}
