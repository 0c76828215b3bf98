import { cleanup, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { changeSummary } from '../src/lib/summary.ts';
import { directWriteChange, historyResponse, insertChange, stubFetch } from './fixtures.ts';
import { BASE, openAt } from './open-admin.tsx';

const SHA = 'c675a2e604b0cd1229c036e3ce0c87422980a245e295bbc605a507a2299752db';

let fetchStub: ReturnType<typeof stubFetch> | undefined;
afterEach(() => {
  cleanup();
  fetchStub?.restore();
  fetchStub = undefined;
  delete window.__AUDITRUM_ADMIN__;
});

describe('context claimed by a role that is not the application', () => {
  it('is shown apart, as claimed, and never as the actor or the reason', async () => {
    const change = directWriteChange({
      context: {
        source: 'db',
        db_user: 'mallory',
        application_name: 'psql',
        client_addr: '10.0.0.9',
        claimed: { actor_id: 'ceo', source: 'http', reason: 'approved' },
      },
      claimed: { actor_id: 'ceo', source: 'http', reason: 'approved' },
    });
    fetchStub = stubFetch({
      [`${BASE}/api/changes/42`]: { change, request: null },
      [`${BASE}/api/history`]: historyResponse(),
    });
    openAt('/changes/42');
    const claimed = await screen.findByRole('region', { name: 'Claimed context (not trusted)' });
    expect(claimed.textContent).toContain('database role mallory, which is not one of the application');
    expect(within(claimed).getByText('ceo')).toBeTruthy();
    expect(within(claimed).getByText('approved')).toBeTruthy();
    // Outside that block: no actor, no reason, a direct database write.
    const facts = document.querySelector('dl.facts') as HTMLElement;
    expect(facts.textContent).not.toContain('ceo');
    expect(facts.textContent).not.toContain('approved');
    expect(facts.textContent).toContain('Actordatabase role malloryclaimed context');
    expect(facts.textContent).toContain('direct database write (context only claimed)');
    // The real database user: as the actor, in More context and in the note.
    expect(screen.getAllByText('mallory')).toHaveLength(3);
  });

  it('is flagged, without the claimed actor, in the changes list and in the row history', async () => {
    const claimed = { actor_id: 'ceo', actor_label: 'The CEO', reason: 'approved' };
    const change = directWriteChange({ context: { source: 'db', db_user: 'mallory', claimed }, claimed });
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: { tables: [{ id: 1, schema: 'public', table: 'orders' }] },
      [`${BASE}/api/changes`]: { items: [change], nextCursor: null },
      [`${BASE}/api/history`]: historyResponse([
        { change, state: change.newValues, oversized: [], erased: [], complete: false },
      ]),
    });
    openAt('/changes');
    await screen.findByRole('link', { name: /status: paid → refunded/ });
    const actor = document.querySelector('td.col-actor') as HTMLElement;
    expect(actor.textContent).toBe('database role malloryclaimed context');
    expect(within(actor).queryByRole('link')).toBeNull();
    cleanup();
    openAt('/history?table=public.orders&key=7');
    const meta = (await screen.findByText('claimed context')).closest('p') as HTMLElement;
    expect(meta.textContent).toMatch(/^by database role malloryclaimed context · change 42/);
    expect(document.body.textContent).not.toMatch(/ceo|CEO|approved/);
  });
});

describe('values too large to keep', () => {
  it('are summed up in the changes list by their size, never as the marker', () => {
    const big = (bytes: number) => ({ $auditrum: 'oversized', bytes, sha256: SHA });
    const update = directWriteChange({
      oldValues: { body: big(2048), doc: { $auditrum: 'oversized', bytes: 1, sha256: 'x' } },
      newValues: { body: big(4096), doc: { $auditrum: 'oversized', bytes: 2, sha256: 'x' } },
      changedColumns: ['body', 'doc'],
      oversized: { old: ['body'], new: ['body'] },
    });
    // A json column's own value of the marker's shape is summed up as the value it is.
    expect(changeSummary(update)).toBe('body: (too large: 2,048 bytes) → (too large: 4,096 bytes), doc.bytes: 1 → 2');
    const shrunk = directWriteChange({
      oldValues: { body: big(1041) },
      newValues: { body: 'short' },
      changedColumns: ['body'],
      oversized: { old: ['body'], new: [] },
    });
    expect(changeSummary(shrunk)).toBe('body: (too large: 1,041 bytes) → short');
    const inserted = insertChange({
      newValues: { id: 7, body: big(150000000) },
      oversized: { old: [], new: ['body'] },
    });
    expect(changeSummary(inserted)).toBe('id: 7, body: (too large: 150,000,000 bytes)');
  });

  it('says so with their size, only for the columns the API lists', async () => {
    const marker = { $auditrum: 'oversized', bytes: 157286400, sha256: SHA };
    const change = insertChange({
      newValues: { id: 7, body: marker, doc: { $auditrum: 'oversized', bytes: 1, sha256: 'x' } },
      oversized: { old: [], new: ['body'] },
    });
    fetchStub = stubFetch({
      [`${BASE}/api/changes/40`]: { change, request: null },
      [`${BASE}/api/history`]: historyResponse([
        { change, state: change.newValues, oversized: ['body'], erased: [], complete: true },
      ]),
    });
    openAt('/changes/40');
    const body = await screen.findByText('too large to keep (157,286,400 bytes): cannot be shown or restored');
    expect(body.getAttribute('title')).toBe(`SHA-256 ${SHA}`);
    // A json column's own value of the same shape is shown as the value it is.
    expect(screen.getByText(/"sha256": "x"/)).toBeTruthy();
    expect(screen.getAllByText(/too large to keep/)).toHaveLength(1);
  });

  it('marks them in the row as it was at a chosen time', async () => {
    const marker = { $auditrum: 'oversized', bytes: 2000000, sha256: SHA };
    const change = insertChange({ newValues: { id: 7, body: marker }, oversized: { old: [], new: ['body'] } });
    fetchStub = stubFetch({
      [`${BASE}/api/history`]: {
        versions: [{ change, state: { id: 7, body: marker }, oversized: ['body'], erased: [], complete: true }],
        firstNumber: 1,
        nextCursor: null,
        newer: null,
        stateAt: { id: 7, body: marker },
        stateAtOversized: ['body'],
      },
      // The row as of a time (api/row-as-of) names the value it cannot know, and why.
      [`${BASE}/api/row-as-of`]: {
        exists: true,
        rowKey: '7',
        values: { id: 7 },
        unknown: [{ column: 'body', reason: 'oversized' }],
        lastChangeId: '40',
        lastChangedAt: change.changedAt,
        rebuiltFrom: 'forward',
      },
    });
    openAt('/history?table=public.orders&key=7&at=2026-11-27T00:00:00Z');
    const panel = (await screen.findByRole('heading', { name: 'The row as it was at a chosen time' }))
      .parentElement as HTMLElement;
    expect((await within(panel).findByText('too large to keep')).closest('.record-entry')?.textContent).toBe(
      'bodytoo large to keep',
    );
    // The version itself still says how large it was.
    expect(screen.getByText('too large to keep (2,000,000 bytes): cannot be shown or restored')).toBeTruthy();
  });
});
