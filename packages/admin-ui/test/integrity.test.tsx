import type { ErasureEvent, IntegrityResponse } from '@auditrum/core/admin';
import { cleanup, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { absoluteTime } from '../src/lib/time.ts';
import { timeSettings } from '../src/lib/time-settings.ts';
import { historyResponse, insertChange, stubFetch, updateChange } from './fixtures.ts';
import { BASE, openAt } from './open-admin.tsx';

let fetchStub: ReturnType<typeof stubFetch> | undefined;
afterEach(() => {
  cleanup();
  fetchStub?.restore();
  fetchStub = undefined;
  delete window.__AUDITRUM_ADMIN__;
});

const KEY = 'a3f1c9e07b5d4e21a3f1c9e07b5d4e21a3f1c9e07b5d4e21a3f1c9e07b5d4e21';

const actorErasure: ErasureEvent = {
  id: '3',
  erasedAt: '2026-12-06T09:00:00.000000Z',
  erasedBy: 'auditrum_admin',
  actor: 'dpo@shop.test',
  reason: 'GDPR request 118',
  subject: { actor_id: '[erased]' },
  actorPseudonym: 'erased:3',
  keyPseudonym: null,
  changes: 17,
  apiRequests: 4,
};

const rowErasure: ErasureEvent = {
  id: '2',
  erasedAt: '2026-12-01T08:00:00.000000Z',
  erasedBy: 'auditrum_admin',
  actor: null,
  reason: 'customer left',
  subject: { table: 'public.customers', key: '9', columns: ['email', 'phone'] },
  actorPseudonym: null,
  keyPseudonym: null,
  changes: 2,
  apiRequests: 0,
};

/** A status after a signed seal, a verify with a checkpoint file, a purge and two erasures. */
function readable(overrides: Partial<Extract<IntegrityResponse, { readable: true }>> = {}): IntegrityResponse {
  const seal = {
    id: '12',
    sealedAt: '2026-12-07T10:00:00.000000Z',
    sealedBy: 'auditrum_admin',
    rows: 340,
    lastSeq: '12040',
    signed: true,
    checkpointKey: KEY,
    ageHours: 0.25,
  };
  const verification = {
    id: '5',
    verifiedAt: '2026-12-07T03:00:00.000000Z',
    verifiedBy: 'auditrum_admin',
    links: '11700',
    problems: 0,
    erased: 19,
    checkpoints: 30,
    checkpointFailures: 0,
    newestCheckpointAt: '2026-12-07T02:00:00.000000Z',
    ageHours: 7.25,
  };
  return {
    readable: true,
    checkedAt: '2026-12-07T10:15:00.000000Z',
    maxSealAgeHours: 24,
    chain: { links: '12040', unsealed: 8, unsealedEstimated: false, seals: 12 },
    sealState: 'recent',
    lastSeal: seal,
    lastSignedSeal: seal,
    lastVerification: verification,
    lastCheckpointVerification: verification,
    purges: {
      total: 2,
      recent: [
        {
          id: '4',
          purgedAt: '2026-12-01T01:00:00.000000Z',
          purgedBy: 'auditrum_admin',
          log: 'changes',
          olderThan: '13 months',
          cutoff: '2025-11-01T01:00:00.000000Z',
          droppedPartitions: ['changes_p2025_09', 'changes_p2025_10'],
          rows: 120000,
          finishedAt: '2026-12-01T01:00:03.000000Z',
        },
        {
          id: '3',
          purgedAt: '2026-11-01T01:00:00.000000Z',
          purgedBy: 'auditrum_admin',
          log: 'api_requests',
          olderThan: '90 days',
          cutoff: '2026-08-03T01:00:00.000000Z',
          droppedPartitions: [],
          rows: 5000,
          finishedAt: null,
        },
      ],
    },
    erasures: { total: 2, items: [actorErasure, rowErasure], nextCursor: null },
    ...overrides,
  };
}

function openIntegrity(status: IntegrityResponse | ((url: URL) => IntegrityResponse), path = '/integrity') {
  fetchStub = stubFetch({
    [`${BASE}/api/integrity`]:
      typeof status === 'function' ? (url: URL) => ({ status: 200, body: status(url) }) : status,
  });
  openAt(path);
}

const section = (name: string) => screen.findByRole('region', { name: new RegExp(`^${name}`) });

describe('the integrity panel', () => {
  it('is a section of the header, and its page has the title Integrity', async () => {
    openIntegrity(readable());
    const nav = screen.getByRole('navigation', { name: 'Sections' });
    const link = within(nav).getByRole('link', { name: 'Integrity' });
    expect(link.getAttribute('aria-current')).toBe('page');
    await section('Sealing');
    expect(document.title).toBe('Integrity · Auditrum');
  });

  it('shows the last seal, the rows waiting, the last verify and the newest checkpoint', async () => {
    openIntegrity(readable());
    const sealing = await section('Sealing');
    expect(within(sealing).getByText('ok')).toBeTruthy();
    expect(sealing.textContent).toContain('Sealed 15 min ago; 8 rows not sealed yet.');
    expect(sealing.textContent).toContain('Chain length12,040 links');
    expect(sealing.textContent).toContain('Rows it sealed340 (up to link 12040)');
    expect(sealing.textContent).toContain(`Signed checkpointemitted, key ${KEY.slice(0, 16)}…`);
    const verify = await section('Verification');
    expect(verify.textContent).toContain('Verified: 11,700 links hold (19 erased rows, not breaks), 7.3 h ago.');
    expect(verify.textContent).toContain('Checkpoints30 checked, 0 failed');
    const checkpoints = await section('Signed checkpoints');
    expect(checkpoints.textContent).toContain('(8.3 h old, in the file of verify #5)');
    expect(checkpoints.textContent).toContain('Last signed seal#12');
  });

  it('lists the purges, a run that stopped midway flagged, and the erasures as events', async () => {
    openIntegrity(readable());
    const purges = await section('Purges');
    const rows = within(purges).getAllByRole('row');
    expect(rows).toHaveLength(3);
    expect(rows[1]?.textContent).toContain('changes13 months');
    expect(rows[1]?.textContent).toContain('120,000changes_p2025_09, changes_p2025_10auditrum_admin');
    expect(within(rows[2] as HTMLElement).getByText('stopped midway')).toBeTruthy();
    const erasures = await section('Erasures');
    const items = within(erasures).getAllByRole('listitem');
    expect(items.map((item) => item.querySelector('.erasure-head strong')?.textContent)).toEqual([
      'Erasure #3',
      'Erasure #2',
    ]);
    expect(items[0]?.textContent).toContain(
      'ReasonGDPR request 118Subjectone actor’s changes and API callsAsked bydpo@shop.test',
    );
    expect(items[0]?.textContent).toContain('Erased17 changes (as erased:3), 4 API calls masked');
    expect(
      within(items[0] as HTMLElement)
        .getByRole('link', { name: 'as erased:3' })
        .getAttribute('href'),
    ).toBe(`${BASE}/changes?erasure=3`);
    expect(
      within(items[0] as HTMLElement)
        .getByRole('link', { name: '4 API calls' })
        .getAttribute('href'),
    ).toBe(`${BASE}/requests?erasure=3`);
    expect(document.body.textContent).not.toContain('[erased]');
    expect(items[1]?.textContent).toContain('Subjectpublic.customers key 9: email, phoneAsked bynot given');
    expect(
      within(items[1] as HTMLElement)
        .getByRole('link', { name: 'the row’s history' })
        .getAttribute('href'),
    ).toBe(`${BASE}/history?table=public.customers&key=9`);
  });

  it('an erasure that took a row’s key shows neither the key nor the marker, and links the changes under the pseudonym', async () => {
    const keyErasure: ErasureEvent = {
      ...rowErasure,
      id: '7',
      subject: { table: 'public.customers', key: '[erased]', columns: ['email', 'id'] },
      keyPseudonym: 'erased:7',
    };
    openIntegrity(readable({ erasures: { total: 1, items: [keyErasure], nextCursor: null } }));
    const item = within(await section('Erasures')).getByRole('listitem');
    expect(item.textContent).toContain('Subjectpublic.customers, one row (its key erased too): email, id');
    expect(within(item).getByRole('link', { name: 'as key erased:7' }).getAttribute('href')).toBe(
      `${BASE}/changes?erasure=7`,
    );
    expect(item.textContent).not.toContain('[erased]');
  });

  it('says plainly when nothing was ever sealed, verified, signed, purged or erased', async () => {
    openIntegrity(
      readable({
        chain: { links: '0', unsealed: 5, unsealedEstimated: false, seals: 0 },
        sealState: 'never',
        lastSeal: null,
        lastSignedSeal: null,
        lastVerification: null,
        lastCheckpointVerification: null,
        purges: { total: 0, recent: [] },
        erasures: { total: 0, items: [], nextCursor: null },
      }),
    );
    const sealing = await section('Sealing');
    expect(within(sealing).getByText('not set up')).toBeTruthy();
    expect(sealing.textContent).toContain('Never sealed: 5 rows not sealed yet. Run auditrum seal on a schedule');
    expect(sealing.textContent).not.toContain('Last seal');
    expect((await section('Verification')).textContent).toContain('Never verified. Run auditrum verify');
    expect((await section('Signed checkpoints')).textContent).toContain('No signed checkpoint yet');
    expect((await section('Purges')).textContent).toContain('Nothing was purged.');
    expect((await section('Erasures')).textContent).toContain('No erasure (GDPR art. 17) was recorded.');
  });

  it('shows an estimated count of rows waiting as an estimate, rounded, never as an exact figure', async () => {
    openIntegrity(readable({ chain: { links: '0', unsealed: 1_000_017, unsealedEstimated: true, seals: 0 } }));
    const sealing = await section('Sealing');
    expect(sealing.textContent).toContain('about 1,000,000 rows not sealed yet');
    expect(sealing.textContent).toContain('Rows not sealed yetabout 1,000,000 (estimated: too many to count quickly)');
    expect(sealing.textContent).not.toContain('1,000,017');
  });

  it('flags a seal older than doctor’s limit and a verify that found problems', async () => {
    const status = readable() as Extract<IntegrityResponse, { readable: true }>;
    openIntegrity({
      ...status,
      sealState: 'stale',
      lastSeal: { ...(status.lastSeal as NonNullable<typeof status.lastSeal>), ageHours: 30, signed: false },
      lastVerification: { ...(status.lastVerification as NonNullable<typeof status.lastVerification>), problems: 3 },
    });
    const sealing = await section('Sealing');
    expect(within(sealing).getByText('attention')).toBeTruthy();
    expect(sealing.textContent).toContain(
      "Last sealed 30.0 h ago, longer than 24 hours (doctor's limit): rows written since are not tamper-evident yet.",
    );
    expect(sealing.textContent).toContain('Signed checkpointnone (sealed without --sign-key)');
    const verify = await section('Verification');
    expect(within(verify).getByText('attention')).toBeTruthy();
    expect(verify.textContent).toContain('3 problems found in 11,700 links (19 erased rows, not breaks)');
  });

  it('tells an admin whose role may not read the chain what to grant', async () => {
    openIntegrity({
      readable: false,
      role: 'shop_app',
      missing: ['auditrum.seals', 'auditrum.verifications', 'auditrum.chain_status()'],
    });
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('The admin cannot read the chain');
    expect(alert.textContent).toContain('may not read auditrum.seals, auditrum.verifications, auditrum.chain_status()');
    expect(alert.querySelector('pre')?.textContent).toBe(
      'GRANT SELECT ON auditrum.seals, auditrum.verifications TO shop_app;\nGRANT EXECUTE ON FUNCTION auditrum.chain_status() TO shop_app;',
    );
    expect(screen.queryByRole('region', { name: /^Sealing/ })).toBeNull();
    cleanup();
    // A role whose name SQL must quote is quoted in the statement to run.
    fetchStub?.restore();
    openIntegrity({ readable: false, role: 'Shop "App"', missing: ['auditrum.purges'] });
    expect((await screen.findByRole('alert')).querySelector('pre')?.textContent).toBe(
      'GRANT SELECT ON auditrum.purges TO "Shop ""App""";',
    );
  });

  it('pages the erasures with the server’s cursor', async () => {
    openIntegrity((url) =>
      url.searchParams.get('cursor') === 'ZTo5'
        ? readable({ erasures: { total: 2, items: [rowErasure], nextCursor: null } })
        : readable({ erasures: { total: 2, items: [actorErasure], nextCursor: 'ZTo5' } }),
    );
    const next = await screen.findByRole('link', { name: 'Next page →' });
    expect(next.getAttribute('href')).toBe(`${BASE}/integrity?cursor=ZTo5`);
    next.click();
    expect(await screen.findByText('Erasure #2')).toBeTruthy();
    expect(screen.queryByText('Erasure #3')).toBeNull();
    expect(fetchStub?.calls).toContain(`${BASE}/api/integrity?cursor=ZTo5`);
  });
});

/** The diff's row of a field (its header cell holds a marker, the name and a badge). */
function diffRow(field: string): HTMLElement {
  const row = [...document.querySelectorAll<HTMLElement>('tr.diff-row')].find(
    (tr) => tr.querySelector('th')?.childNodes[1]?.textContent === field,
  );
  if (!row) throw new Error(`no diff row ${field}`);
  return row;
}

/** The erased values shown in an element, as their text. */
function erasedTexts(element: HTMLElement): (string | null)[] {
  return [...element.querySelectorAll('.value-erased')].map((value) => value.textContent);
}

describe('a change an erasure touched', () => {
  const erased = (overrides = {}) =>
    updateChange({
      // As the API gives an erased value: null, listed as erased (never the marker).
      oldValues: { status: 'draft', email: null },
      newValues: { status: 'paid', email: null },
      erased: { old: ['email'], new: ['email'] },
      changedColumns: ['status', 'email'],
      actor: { id: 'erased:3', label: null },
      reason: '[erased]',
      context: { source: 'http', ip: '[erased]', route: '/orders/:id' },
      ...overrides,
    });

  function openChange(
    change: ReturnType<typeof updateChange>,
    erasures: ErasureEvent[],
    actorErasure: string | null,
    keyErasure: string | null = null,
    // The row's state after the change, as the API gives it: erased values null and listed.
    after: { state: Record<string, unknown>; erased: string[] } = {
      state: { id: 7, status: 'paid', email: null, city: null },
      erased: ['city', 'email'],
    },
  ) {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: { tables: [{ id: 1, schema: 'public', table: 'orders', columns: [] }], canWrite: true },
      [`${BASE}/api/changes/41`]: { change, request: null },
      [`${BASE}/api/erasures`]: { erasures, marker: '[erased]', actorErasure, keyErasure },
      [`${BASE}/api/history`]: historyResponse([
        { change, state: after.state, oversized: [], erased: after.erased, complete: true },
      ]),
    });
    openAt('/changes/41');
  }

  it('shows erased values as erased, with the erasure, never as the marker', async () => {
    openChange(erased(), [actorErasure], '3');
    const when = absoluteTime(actorErasure.erasedAt, timeSettings());
    const text = `erased (erasure #3: GDPR request 118, ${when})`;
    await screen.findByRole('region', { name: 'Values erased' });
    const email = await waitFor(() => diffRow('email'));
    // Erased on both sides of a changed column: still a change, not folded as unchanged.
    expect(email.getAttribute('data-kind')).toBe('changed');
    expect(erasedTexts(email)).toEqual([text, text]);
    expect(document.body.textContent).not.toContain('[erased]');
    // The unchanged column from the row's state, erased as well, stays folded as unchanged.
    screen.getByRole('button', { name: /Show 2 unchanged fields/ }).click();
    const city = await waitFor(() => diffRow('city'));
    expect(city.getAttribute('data-kind')).toBe('unchanged');
    // The actor, the reason and the context.
    const facts = document.querySelector('dl.facts') as HTMLElement;
    expect(facts.textContent).toContain('Actorerased actor (erasure #3)');
    expect(facts.textContent).toContain(`Reason${text}`);
    expect(erasedTexts(document.querySelector('dl.record') as HTMLElement)).toEqual([text]);
    // Its values are markers: reverting it would write them into the table, so a writer is not offered it.
    expect(screen.queryByRole('button', { name: 'Revert this change' })).toBeNull();
    const notice = screen.getByRole('region', { name: 'Values erased' });
    expect(notice.textContent).toContain(`Erasure #3 of ${when}, run by auditrum_admin`);
    expect(notice.textContent).toContain('run by auditrum_admin at the request of dpo@shop.test: GDPR request 118');
  });

  it('shows the marker’s text as the value it is when no erasure touched the change', async () => {
    const change = insertChange({
      id: '41',
      newValues: { id: 7, note: '[erased]' },
      actor: { id: 'erased:3', label: null },
    });
    openChange(change, [], null, null, {
      state: { id: 7, status: 'paid', email: '[erased]', city: '[erased]' },
      erased: [],
    });
    // The INSERT's row (from its history): two columns hold the text, shown as it is.
    expect(await screen.findAllByText('[erased]')).toHaveLength(2);
    expect(screen.queryByRole('region', { name: 'Values erased' })).toBeNull();
    expect(await screen.findByRole('button', { name: 'Revert this change' })).toBeTruthy();
    expect((document.querySelector('dl.facts') as HTMLElement).textContent).toContain('Actorerased:3');
  });

  it('says key erased and does not link a history of the marker when the row key was erased', async () => {
    openChange(erased({ rowKey: 'erased:2' }), [rowErasure], null, '2');
    expect((await screen.findByRole('heading', { level: 1 })).textContent).toContain('· key erased (erasure #2)');
    await screen.findByRole('region', { name: 'Values erased' });
    expect(screen.queryByRole('link', { name: 'Every version of this row' })).toBeNull();
    // Without the actor's erasure, the pseudonym-looking actor id is shown as the id it is.
    expect((document.querySelector('dl.facts') as HTMLElement).textContent).toContain('Actorerased:3');
  });
});

describe('an erased actor’s pseudonym and a real actor of the same id', () => {
  it('links the erased actor to the erasure’s changes and the real one to its actor page', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: { tables: [{ id: 1, schema: 'public', table: 'orders' }] },
      [`${BASE}/api/changes`]: {
        items: [
          updateChange({ id: '42', actor: { id: 'erased:3', label: null } }),
          updateChange({ id: '41', actor: { id: 'erased:3', label: '[erased]', erasure: '3' } }),
        ],
        nextCursor: null,
      },
    });
    openAt('/changes?erasure=3');
    const erased = await screen.findByRole('link', { name: 'erased actor (erasure #3)' });
    expect(erased.getAttribute('href')).toBe(`${BASE}/changes?erasure=3`);
    expect(screen.getByRole('link', { name: 'erased:3' }).getAttribute('href')).toBe(`${BASE}/actors/erased%3A3`);
    expect(fetchStub.calls).toContain(`${BASE}/api/changes?erasure=3`);
    expect((screen.getByLabelText('Touched by erasure #') as HTMLInputElement).value).toBe('3');
  });
});

describe('an erased row key and a real row of the same key', () => {
  it('links the erased key to the erasure’s changes and the real one to its history', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: { tables: [{ id: 1, schema: 'public', table: 'orders' }] },
      [`${BASE}/api/changes`]: {
        items: [
          updateChange({ id: '42', rowKey: 'erased:2' }),
          updateChange({ id: '41', rowKey: 'erased:2', keyErasure: '2' }),
        ],
        nextCursor: null,
      },
    });
    openAt('/changes?table=public.orders');
    const erased = await screen.findByRole('link', { name: 'erased key (erasure #2)' });
    expect(erased.getAttribute('href')).toBe(`${BASE}/changes?erasure=2`);
    expect(screen.getByRole('link', { name: 'erased:2' }).getAttribute('href')).toBe(
      `${BASE}/history?table=public.orders&key=erased%3A2`,
    );
  });
});
