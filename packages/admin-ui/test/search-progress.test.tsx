import { cleanup, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { stubFetch, updateChange } from './fixtures.ts';
import { BASE, openAt } from './open-admin.tsx';

// A search in values without the trigram index, the API log's path filter and the recycle bin (the current month's
// changes) read a bounded part of the log per page and say how far back they searched (`searchedTo`): the list must
// not present a short or empty page as "nothing matches".
const tables = { tables: [{ id: 1, schema: 'public', table: 'orders' }] };
const SEARCHED_TO = '2026-11-20T08:30:00.000000Z';

let fetchStub: ReturnType<typeof stubFetch> | undefined;
afterEach(() => {
  cleanup();
  fetchStub?.restore();
  delete window.__AUDITRUM_ADMIN__;
});

describe('a search page that stopped before it was full', () => {
  it('empty: says no match yet back to that time, and offers the next page instead of "no change matches"', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tables,
      [`${BASE}/api/changes`]: { items: [], nextCursor: 'c99', searchedTo: SEARCHED_TO },
    });
    openAt('/changes?q=needle');
    const note = await screen.findByText(/No match yet in the changes back to/);
    expect(note.textContent).toContain('Older changes are not searched yet: Next page searches further back.');
    expect(note.querySelector('time')?.getAttribute('datetime')).toBe(SEARCHED_TO);
    expect(screen.queryByText('No change matches these filters.')).toBeNull();
    expect(screen.getByRole('link', { name: /Next page/ }).getAttribute('href')).toBe(
      `${BASE}/changes?q=needle&cursor=c99`,
    );
  });

  it('short: shows what it found, how far back it searched, and the next page', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tables,
      [`${BASE}/api/changes`]: { items: [updateChange()], nextCursor: 'c41', searchedTo: SEARCHED_TO },
    });
    openAt('/changes?q=paid');
    expect(await screen.findByRole('link', { name: /status: draft → paid/ })).toBeTruthy();
    expect(
      screen
        .getByText(/1 found in the changes back to/)
        .querySelector('time')
        ?.getAttribute('datetime'),
    ).toBe(SEARCHED_TO);
    expect(screen.getByRole('link', { name: /Next page/ }).getAttribute('href')).toBe(
      `${BASE}/changes?q=paid&cursor=c41`,
    );
  });

  it('a complete page (no searchedTo) says nothing of the kind, and an empty one is "no change matches"', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tables,
      [`${BASE}/api/changes`]: { items: [], nextCursor: null },
    });
    openAt('/changes?q=nowhere');
    expect(await screen.findByText('No change matches these filters.')).toBeTruthy();
    expect(screen.queryByText(/in the changes back to/)).toBeNull();
  });

  it('the API log by path: says how far back it searched the requests, and offers the next page', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tables,
      [`${BASE}/api/requests`]: { items: [], nextCursor: 'r7', searchedTo: SEARCHED_TO },
    });
    openAt('/requests?path=%2Forders%2F77');
    const note = await screen.findByText(/No match yet in the requests back to/);
    expect(note.textContent).toContain('Older requests are not searched yet: Next page searches further back.');
    expect(note.querySelector('time')?.getAttribute('datetime')).toBe(SEARCHED_TO);
    expect(screen.queryByText('No request matches these filters.')).toBeNull();
    expect(screen.getByRole('link', { name: /Next page/ }).getAttribute('href')).toBe(
      `${BASE}/requests?path=%2Forders%2F77&cursor=r7`,
    );
  });

  it('the recycle bin: says how far back it searched the changes, and offers the next page, not "no deleted row"', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tables,
      [`${BASE}/api/deleted`]: { items: [], nextCursor: 'ZDo5OQ', searchedTo: SEARCHED_TO },
    });
    openAt('/deleted?table=public.orders');
    const note = await screen.findByText(/No match yet in the changes back to/);
    expect(note.querySelector('time')?.getAttribute('datetime')).toBe(SEARCHED_TO);
    expect(screen.queryByText(/No deleted row/)).toBeNull();
    expect(screen.getByRole('link', { name: /Next page/ }).getAttribute('href')).toBe(
      `${BASE}/deleted?table=public.orders&cursor=ZDo5OQ`,
    );
  });

  it('the recycle bin, a complete empty page: no deleted row, and no search notice', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tables,
      [`${BASE}/api/deleted`]: { items: [], nextCursor: null },
    });
    openAt('/deleted?table=public.orders');
    expect(await screen.findByText('No deleted row: every row deleted has come back since.')).toBeTruthy();
    expect(screen.queryByText(/back to/)).toBeNull();
  });
});
