import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { erase, seal, verify } from '@auditrum/core';
import { expect, test } from '@playwright/test';
import { FRAMEWORKS } from '../sample-apps/frameworks.ts';
import { shopApi } from '../support/shop-api.ts';
import { withDatabase } from '../support/with-database.ts';

/**
 * The admin's Integrity page and an erased change, against each sample app on a real PostgreSQL: a customer's
 * change made over HTTP, the chain sealed with a signing key, that customer's name and address erased (GDPR art. 17)
 * and the chain verified with the checkpoint, as the schema's owner would; then in the browser the panel shows the
 * signed seal, the verify run (its erased rows apart from breaks), the checkpoint and the erasure as an event, and the
 * change's page shows the erased values as erased, with the erasure, never as the marker.
 */
const CAROL = { id: '3' };
const screenshotDir = new URL('../screenshots/', import.meta.url).pathname;
const signingKey = generateKeyPairSync('ed25519').privateKey;

for (const framework of FRAMEWORKS) {
  test(`${framework}: the Integrity page after a signed seal and an erasure; the erased change`, async ({ page }) => {
    const base = process.env[`E2E_${framework.toUpperCase()}_URL`];
    const databaseUrl = process.env[`E2E_${framework.toUpperCase()}_DB_URL`];
    if (!base || !databaseUrl) throw new Error('the global setup did not start the sample apps');
    const shot = (name: string) =>
      page.screenshot({ path: `${screenshotDir}${framework}-integrity-${name}.png`, fullPage: true });
    const reason = `GDPR request ${framework}-118`;

    // A customer of its own (no other spec reads it), renamed by Carol over HTTP.
    const customerId = await withDatabase(databaseUrl, async (db) => {
      const { rows } = await db.query<{ id: number }>(
        `INSERT INTO customers (name, email, tier, address) VALUES ('Erin Erased', $1, 'gold', '{"city": "Graz"}')
         RETURNING id`,
        [`erin-${framework}@example.com`],
      );
      return rows[0]?.id as number;
    });
    await shopApi(base, CAROL.id, 'PATCH', `/api/customers/${customerId}`, {
      name: 'Erin Renamed',
      address: { city: 'Linz' },
    });
    const { changeId, sealed, erasureId } = await withDatabase(databaseUrl, async (db) => {
      const { rows } = await db.query<{ id: string }>(
        `SELECT c.id::text FROM auditrum.changes c JOIN auditrum.tracked_tables t ON t.id = c.table_id
         WHERE t.table_name = 'customers' AND c.row_key = $1 AND c.operation = 'UPDATE'`,
        [String(customerId)],
      );
      const result = await seal(db, 'auditrum', { signingKey });
      const erased = await erase(db, 'auditrum', {
        subject: { table: 'public.customers', key: String(customerId), columns: ['name', 'address'] },
        reason,
        requestedBy: 'dpo@shop.test',
      });
      const checkpoint = result.checkpoint;
      if (!checkpoint) throw new Error('the seal signed no checkpoint');
      // verify records its run; the rows sealed before the erasure are reported erased, not tampered.
      const checked = await verify(db, 'auditrum', {
        checkpoints: [checkpoint],
        publicKey: createPublicKey(signingKey),
      });
      expect(checked).toMatchObject({ ok: true, problems: [] });
      expect(checked.erased).toHaveLength(2);
      return { changeId: rows[0]?.id as string, sealed: result, erasureId: erased.erasureId as string };
    });
    expect(sealed.checkpoint?.seq).toBe(sealed.lastSeq);

    await test.step('Carol opens the Integrity page: the signed seal, the rows waiting, the erasure', async () => {
      await page.goto(`${base}/`);
      await page.getByRole('button', { name: /Sign in as Carol Clerk/ }).click();
      await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Integrity' }).click();
      await expect(page).toHaveTitle('Integrity · Auditrum');
      const sealing = page.getByRole('region', { name: /^Sealing/ });
      await expect(sealing).toContainText(/Sealed (less than a minute|\d+ min) ago; \d+ rows? not sealed yet\./);
      await expect(sealing).toContainText(`up to link ${sealed.lastSeq}`);
      await expect(sealing).toContainText('Signed checkpointemitted, key');
      const verification = page.getByRole('region', { name: /^Verification/ });
      await expect(verification).toContainText(/Verified: [\d,]+ links hold \(2 erased rows, not breaks\)/);
      await expect(verification).toContainText('Checkpoints1 checked, 0 failed');
      const checkpoints = page.getByRole('region', { name: /^Signed checkpoints/ });
      await expect(checkpoints).toContainText(`#${sealed.sealId}`);
      await expect(checkpoints).toContainText('Newest checkpoint verified');
      await expect(checkpoints).not.toContainText('no verify was given a checkpoint file');
      const event = page.getByRole('listitem').filter({ hasText: `Erasure #${erasureId}` });
      await expect(event).toContainText(`Reason${reason}`);
      await expect(event).toContainText(`Subjectpublic.customers key ${customerId}: address, name`);
      await expect(event).toContainText('Asked bydpo@shop.test');
      await expect(event).toContainText('Erased2 changes');
      await shot('01-panel');
    });

    await test.step('the erased change: its values erased, with the erasure, never the marker', async () => {
      await page.goto(`${base}/audit-admin/changes/${changeId}`);
      const notice = page.getByRole('region', { name: 'Values erased' });
      await expect(notice).toContainText(`Erasure #${erasureId}`);
      await expect(notice).toContainText(`at the request of dpo@shop.test: ${reason}`);
      const erasedText = new RegExp(`^erased \\(erasure #${erasureId}: ${reason}, \\d{4}-\\d\\d-\\d\\d `);
      const name = page.locator('tr.diff-row', { hasText: 'name' }).first();
      await expect(name.locator('.value-erased')).toHaveCount(2);
      await expect(name.locator('.value-erased').first()).toHaveText(erasedText);
      await expect(page.locator('main')).not.toContainText('[erased]');
      // Carol may write, but reverting an erased change would write its markers into the table: not offered.
      await expect(page.getByRole('button', { name: 'Revert this change' })).toHaveCount(0);
      // Carol stays Carol: the erasure took the row's values, not its editor.
      await expect(page.locator('dl.facts')).toContainText('carol@shop.test');
      await shot('02-erased-change');
    });
  });
}
