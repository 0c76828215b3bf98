import { act, cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { directWriteChange, insertChange, requestDetail, stubFetch, updateChange } from './fixtures.ts';
import { BASE, openAt } from './open-admin.tsx';

const tables = {
  tables: [
    { id: 1, schema: 'public', table: 'orders' },
    { id: 2, schema: 'public', table: 'customers' },
  ],
};

let fetchStub: ReturnType<typeof stubFetch> | undefined;
beforeEach(() => {
  fetchStub = undefined;
});
afterEach(() => {
  cleanup();
  fetchStub?.restore();
  delete window.__AUDITRUM_ADMIN__;
});

describe('changes list', () => {
  it('loads the filters from the URL, shows the changes and keeps the filters in the export links and the next page', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tables,
      [`${BASE}/api/changes`]: { items: [updateChange(), directWriteChange()], nextCursor: 'c41' },
    });
    openAt('/changes?actor=2&table=public.orders');
    expect(screen.getByRole('status').textContent).toContain('Loading changes');
    expect(await screen.findByRole('link', { name: /status: draft → paid/ })).toBeTruthy();
    expect(fetchStub.calls).toContain(`${BASE}/api/changes?table=public.orders&actor=2`);
    expect((screen.getByLabelText(/^Actor/) as HTMLInputElement).value).toBe('2');
    expect(screen.getByRole('link', { name: 'CSV' }).getAttribute('href')).toBe(
      `${BASE}/api/changes/export?table=public.orders&actor=2&format=csv`,
    );
    expect(screen.getByRole('link', { name: 'NDJSON' }).getAttribute('href')).toBe(
      `${BASE}/api/changes/export?table=public.orders&actor=2&format=ndjson`,
    );
    expect(screen.getByRole('link', { name: /Next page/ }).getAttribute('href')).toBe(
      `${BASE}/changes?actor=2&table=public.orders&cursor=c41`,
    );
    expect(screen.getByText('postgres').parentElement?.textContent).toBe('database role postgres');
  });

  it('puts submitted filters in the URL without reloading, and asks the API for them', async () => {
    fetchStub = stubFetch({ [`${BASE}/api/tables`]: tables, [`${BASE}/api/changes`]: { items: [], nextCursor: null } });
    openAt('/changes');
    expect(await screen.findByText('No changes recorded yet.')).toBeTruthy();
    fireEvent.change(screen.getByLabelText(/^Actor/), { target: { value: '3' } });
    fireEvent.change(screen.getByLabelText('Source'), { target: { value: 'db' } });
    fireEvent.change(screen.getByLabelText('Search in changed values'), { target: { value: 'paid' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Apply filters' }));
    });
    expect(window.location.pathname + window.location.search).toBe(`${BASE}/changes?actor=3&source=db&q=paid`);
    expect(await screen.findByText('No change matches these filters.')).toBeTruthy();
    expect(fetchStub.calls).toContain(`${BASE}/api/changes?actor=3&source=db&q=paid`);
  });

  it('never shows the rows of the previous filters while the new ones load', async () => {
    let release: () => void = () => {};
    const pending = new Promise<void>((resolve) => {
      release = resolve;
    });
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tables,
      [`${BASE}/api/changes`]: async (url) => {
        if (url.searchParams.get('actor') !== '3')
          return { status: 200, body: { items: [updateChange()], nextCursor: null } };
        await pending;
        return {
          status: 200,
          body: { items: [insertChange({ actor: { id: '3', label: 'carol@shop.test' } })], nextCursor: null },
        };
      },
    });
    openAt('/changes');
    expect(await screen.findByRole('link', { name: /status: draft → paid/ })).toBeTruthy();
    fireEvent.change(screen.getByLabelText(/^Actor/), { target: { value: '3' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Apply filters' }));
    });
    expect(screen.queryByRole('link', { name: /status: draft → paid/ })).toBeNull();
    expect(screen.getByRole('status').textContent).toContain('Loading changes');
    await act(async () => {
      release();
    });
    expect(await screen.findByRole('link', { name: 'carol@shop.test' })).toBeTruthy();
  });

  it('shows a server error in words and retries on demand (a refused filter: filter-errors.test.tsx)', async () => {
    let attempts = 0;
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tables,
      [`${BASE}/api/changes`]: () => {
        attempts += 1;
        return attempts === 1
          ? { status: 500, body: { error: { code: 'internal', message: 'internal error' } } }
          : { status: 200, body: { items: [insertChange()], nextCursor: null } };
      },
    });
    openAt('/changes?from=2026-11-01');
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Something went wrong');
    expect(alert.textContent).toContain('internal error');
    await act(async () => {
      fireEvent.click(within(alert).getByRole('button', { name: 'Try again' }));
    });
    expect(await screen.findByRole('link', { name: /id: 7, customer_id: 3/ })).toBeTruthy();
  });

  it('names an unreachable database as such, with the server’s words and a retry', async () => {
    let attempts = 0;
    const message = 'the audit log’s database cannot be reached at the moment; try again shortly';
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tables,
      [`${BASE}/api/changes`]: () => {
        attempts += 1;
        return attempts === 1
          ? { status: 503, body: { error: { code: 'unavailable', message } } }
          : { status: 200, body: { items: [insertChange()], nextCursor: null } };
      },
    });
    openAt('/changes');
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('The audit database is unavailable');
    expect(alert.textContent).toContain(message);
    await act(async () => {
      fireEvent.click(within(alert).getByRole('button', { name: 'Try again' }));
    });
    expect(await screen.findByRole('link', { name: /id: 7, customer_id: 3/ })).toBeTruthy();
  });

  it('says so when the server denies access', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tables,
      [`${BASE}/api/changes`]: () => ({ status: 403, body: { error: { code: 'forbidden', message: 'Staff only.' } } }),
    });
    openAt('/');
    expect((await screen.findByRole('alert')).textContent).toContain('You may not see this');
  });
});

describe('one change', () => {
  it('shows the diff with the changed field, its context, and links to its request and to the other changes of it', async () => {
    const change = updateChange({
      oldValues: { status: 'draft' },
      newValues: { status: 'paid' },
      changedColumns: ['status'],
    });
    fetchStub = stubFetch({
      [`${BASE}/api/changes/41`]: { change, request: requestDetail() },
      [`${BASE}/api/history`]: {
        versions: [{ change, state: { id: 7, status: 'paid', total: '10.00' }, complete: true }],
        firstNumber: 2,
        nextCursor: 'aDo0MA',
        newer: null,
        stateAt: null,
      },
    });
    openAt('/changes/41');
    const changed = await screen.findByRole('rowheader', { name: /status/ });
    expect(changed.closest('tr')?.dataset.kind).toBe('changed');
    expect(screen.getByRole('button', { name: 'Show 2 unchanged fields' })).toBeTruthy();
    expect(screen.getByText('customer called')).toBeTruthy();
    expect(screen.getByRole('link', { name: 'PATCH /orders/7 → 200 (12 ms)' }).getAttribute('href')).toBe(
      `${BASE}/requests/019ac0de-0000-7000-8000-00000000b0b1`,
    );
    expect(screen.getByRole('link', { name: 'All changes of this request' }).getAttribute('href')).toBe(
      `${BASE}/changes?request=019ac0de-0000-7000-8000-00000000b0b1`,
    );
    // Only this change's version is asked for: its state completes the diff.
    expect(fetchStub.calls).toContain(`${BASE}/api/history?table=public.orders&key=7&through=41&limit=1`);
  });

  it('shows a DDL row as what happened to capture, with the statement that repaired it', async () => {
    const change = directWriteChange({
      operation: 'DDL',
      rowKey: null,
      oldValues: { problems: ['trigger auditrum_capture_insert is disabled'] },
      newValues: {
        event: 'capture_repaired',
        ddl: 'ALTER TABLE public.orders ENABLE TRIGGER auditrum_capture_insert;',
      },
      changedColumns: null,
    });
    fetchStub = stubFetch({ [`${BASE}/api/changes/41`]: { change, request: null } });
    openAt('/changes/41');
    expect(
      await screen.findByText(
        'Capture of this table: stopped capture repaired: trigger auditrum_capture_insert is disabled.',
      ),
    ).toBeTruthy();
    expect(screen.getByText('ALTER TABLE public.orders ENABLE TRIGGER auditrum_capture_insert;')).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Revert this change' })).toBeNull();
  });

  it('says when a change does not exist', async () => {
    fetchStub = stubFetch({});
    openAt('/changes/999');
    expect((await screen.findByRole('alert')).textContent).toContain('Not found');
  });
});

describe('navigation', () => {
  it('follows a link in place under the base path, and back', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tables,
      [`${BASE}/api/changes`]: { items: [updateChange()], nextCursor: null },
      [`${BASE}/api/requests`]: { items: [requestDetail()], nextCursor: null },
    });
    openAt('/changes');
    await screen.findByRole('link', { name: /status: draft → paid/ });
    await act(async () => {
      fireEvent.click(screen.getByRole('link', { name: 'Requests' }));
    });
    expect(window.location.pathname).toBe(`${BASE}/requests`);
    expect(await screen.findByRole('link', { name: 'PATCH /orders/7' })).toBeTruthy();
    expect(screen.getByRole('link', { name: 'Requests' }).getAttribute('aria-current')).toBe('page');
    await act(async () => {
      const popped = new Promise((resolve) => window.addEventListener('popstate', resolve, { once: true }));
      window.history.back();
      await popped;
    });
    expect(await screen.findByRole('heading', { name: 'Changes' })).toBeTruthy();
  });
});

describe('one request', () => {
  it('shows the masked call, its bodies as text and every change it caused', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/requests/019ac0de-0000-7000-8000-00000000b0b1`]: {
        request: requestDetail({
          requestBody: { $auditrum: 'binary', contentType: 'application/json', contentEncoding: 'gzip', bytes: 9000 },
          responseBody: { $auditrum: 'truncated', bytes: 70000, preview: '{"items":[' },
        }),
        changes: [updateChange()],
        changeCount: 1,
      },
    });
    openAt('/requests/019ac0de-0000-7000-8000-00000000b0b1');
    expect(await screen.findByRole('heading', { name: 'PATCH /orders/7' })).toBeTruthy();
    expect(screen.getByText('[masked]', { selector: '.record dd *' })).toBeTruthy();
    // Header values are all strings: shown as they are, not quoted like a "17" string in a diff would be.
    expect(screen.getByText('17', { selector: '.record dd *' })).toBeTruthy();
    expect(screen.getByText('Truncated (70,000 bytes): only the beginning was stored.')).toBeTruthy();
    expect(
      screen.getByText(
        'Compressed body (gzip), 9,000 bytes as sent: not stored, as it could not be decoded within the size limit.',
      ),
    ).toBeTruthy();
    expect(screen.getByRole('heading', { name: 'Row changes it caused (1)' })).toBeTruthy();
    expect(screen.getByRole('link', { name: /status: draft → paid/ }).getAttribute('href')).toBe(`${BASE}/changes/41`);
  });
});

describe('row history', () => {
  it('shows each version with its own diff, and the row as it was at a chosen time', async () => {
    const inserted = insertChange({ newValues: { id: 7, status: 'draft', total: '10.00' } });
    const paid = updateChange({
      oldValues: { status: 'draft' },
      newValues: { status: 'paid' },
      changedColumns: ['status'],
    });
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: {
        tables: [{ id: 1, schema: 'public', table: 'orders', columns: ['id', 'status', 'total', 'note'] }],
        canWrite: false,
      },
      [`${BASE}/api/row-as-of`]: {
        exists: true,
        rowKey: '7',
        values: { total: '10.00', id: 7, status: 'draft' },
        unknown: [{ column: 'note', reason: 'before_tracking' }],
        lastChangeId: '40',
        lastChangedAt: inserted.changedAt,
        rebuiltFrom: 'forward',
      },
      [`${BASE}/api/history`]: (url) => ({
        status: 200,
        body: {
          versions: [
            { change: inserted, state: { id: 7, status: 'draft', total: '10.00' }, complete: true },
            { change: paid, state: { id: 7, status: 'paid', total: '10.00' }, complete: true },
          ],
          firstNumber: 1,
          nextCursor: null,
          newer: null,
          stateAt: url.searchParams.get('at') ? { id: 7, status: 'draft', total: '10.00' } : null,
        },
      }),
    });
    openAt('/history?table=public.orders&key=7');
    await screen.findByRole('heading', { name: /Version 2/ });
    const versions = [...document.querySelectorAll<HTMLElement>('ol.versions > li')];
    expect(versions).toHaveLength(2);
    // Newest first.
    const [second, first] = versions as [HTMLElement, HTMLElement];
    // A whole new row: one column of values, no "Before".
    expect(
      within(first)
        .getAllByRole('columnheader')
        .map((th) => th.textContent),
    ).toEqual(['Field', 'Value']);
    expect(first.querySelectorAll('tr[data-kind="added"]')).toHaveLength(3);
    const changed = second.querySelectorAll('tr[data-kind="changed"]');
    expect([...changed].map((row) => row.querySelector('th')?.textContent)).toEqual(['~statuschanged']);
    expect(within(second).getByText('customer called', { exact: false })).toBeTruthy();

    await act(async () => {
      fireEvent.click(within(first).getByRole('link', { name: 'The row after version 1' }));
    });
    expect(window.location.search).toBe(`?table=public.orders&key=7&at=${encodeURIComponent(inserted.changedAt)}`);
    // The row as of that time comes from the row-as-of route (with what cannot be known, said so).
    await screen.findByText('The row as it was at a chosen time');
    await waitFor(() =>
      expect(document.querySelector('dl.record')?.textContent).toBe(
        'id7statusdrafttotal"10.00"noteunknown (before tracking began)',
      ),
    );
    expect(fetchStub.calls).toContain(
      `${BASE}/api/row-as-of?table=public.orders&key=7&at=${encodeURIComponent(inserted.changedAt)}`,
    );
  });

  it('shows a row changed many times a page at a time, newest first, numbering versions in the whole history', async () => {
    const versions = Array.from({ length: 53 }, (_, i) => ({
      change: updateChange({
        id: String(100 + i),
        oldValues: { qty: i },
        newValues: { qty: i + 1 },
        changedColumns: ['qty'],
      }),
      state: { id: 7, qty: i + 1 },
      complete: true,
    }));
    fetchStub = stubFetch({
      [`${BASE}/api/history`]: (url) => ({
        status: 200,
        body: url.searchParams.get('cursor')
          ? { versions: versions.slice(0, 3), firstNumber: 1, nextCursor: null, newer: { cursor: null }, stateAt: null }
          : { versions: versions.slice(3), firstNumber: 4, nextCursor: 'aDoxMDM', newer: null, stateAt: null },
      }),
    });
    openAt('/history?table=public.orders&key=7');
    await screen.findByRole('heading', { name: /Version 53/ });
    expect(document.querySelectorAll('ol.versions > li')).toHaveLength(50);
    expect(screen.getByRole('heading', { name: /Version 4:/ })).toBeTruthy();
    expect(screen.queryByRole('heading', { name: /Version 3:/ })).toBeNull();
    // Newest first, numbered in the whole history.
    expect(
      [...document.querySelectorAll('ol.versions > li h2')].map((h) => h.textContent?.match(/Version \d+/)?.[0]),
    ).toEqual(Array.from({ length: 50 }, (_, i) => `Version ${53 - i}`));
    // The oldest version of a page (at its bottom) still shows its own change against the state it replaced.
    const first = [...document.querySelectorAll<HTMLElement>('ol.versions > li')].at(-1) as HTMLElement;
    expect(
      [...first.querySelectorAll('tr[data-kind="changed"]')].map((row) => row.querySelector('th')?.textContent),
    ).toEqual(['~qtychanged']);
    await act(async () => {
      fireEvent.click(screen.getAllByRole('link', { name: 'Older versions (3) →' })[0] as HTMLElement);
    });
    expect(fetchStub.calls.at(-1)).toBe(`${BASE}/api/history?table=public.orders&key=7&cursor=aDoxMDM`);
    await screen.findByRole('heading', { name: /Version 1:/ });
    expect(document.querySelectorAll('ol.versions > li')).toHaveLength(3);
    // Previous: the newer page, here the newest (no cursor).
    expect(screen.getAllByRole('link', { name: '← Newer versions' })[0]?.getAttribute('href')).toBe(
      `${BASE}/history?table=public.orders&key=7`,
    );
    expect(screen.getAllByText('No older versions')).toHaveLength(2);
  });

  it('asks for a table and a key when they are missing', () => {
    fetchStub = stubFetch({});
    openAt('/history');
    expect(screen.getByText(/needs a table and a row key/)).toBeTruthy();
    expect(fetchStub.calls).toEqual([]);
  });
});

describe('actor', () => {
  it("shows one user's counts, latest requests and changes, with links to the full filtered lists", async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/actors/2`]: {
        actor: { id: '2', label: 'bob@shop.test' },
        changeCount: 12,
        changeCountEstimated: false,
        requestCount: 4,
        requestCountEstimated: false,
        firstSeen: '2026-11-26T09:00:00.000Z',
        lastSeen: '2026-11-26T10:15:00.000Z',
      },
      [`${BASE}/api/changes`]: { items: [updateChange()], nextCursor: 'c41' },
      [`${BASE}/api/requests`]: { items: [requestDetail()], nextCursor: null },
    });
    openAt('/actors/2');
    expect(await screen.findByRole('heading', { name: 'bob@shop.test' })).toBeTruthy();
    expect(screen.getByText('12')).toBeTruthy();
    expect(await screen.findByRole('link', { name: 'PATCH /orders/7' })).toBeTruthy();
    expect(await screen.findByRole('link', { name: /status: draft → paid/ })).toBeTruthy();
    expect(fetchStub.calls).toEqual(
      expect.arrayContaining([`${BASE}/api/changes?actor=2&limit=10`, `${BASE}/api/requests?actor=2&limit=10`]),
    );
    expect(screen.getByRole('link', { name: 'All changes by bob@shop.test' }).getAttribute('href')).toBe(
      `${BASE}/changes?actor=2`,
    );
    expect(screen.getByRole('link', { name: 'All requests by bob@shop.test' }).getAttribute('href')).toBe(
      `${BASE}/requests?actor=2`,
    );
  });

  it('says which counts are estimates, to two digits', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/actors/import`]: {
        actor: { id: 'import', label: null },
        changeCount: 2_345_678,
        changeCountEstimated: true,
        requestCount: 4,
        requestCountEstimated: false,
        firstSeen: '2026-11-26T09:00:00.000Z',
        lastSeen: '2026-11-26T10:15:00.000Z',
      },
      [`${BASE}/api/changes`]: { items: [updateChange()], nextCursor: null },
      [`${BASE}/api/requests`]: { items: [], nextCursor: null },
    });
    openAt('/actors/import');
    expect(await screen.findByRole('heading', { name: 'import' })).toBeTruthy();
    const facts = Object.fromEntries(
      screen.getAllByRole('term').map((term) => [term.textContent, term.nextElementSibling?.textContent]),
    );
    expect(facts).toMatchObject({
      Changes: 'about 2,300,000 (estimated: too many to count quickly)',
      Requests: '4',
    });
  });

  it("leaves the API log out when the server says it is not in the user's scope", async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/actors/2`]: {
        actor: { id: '2', label: 'bob@shop.test' },
        changeCount: 12,
        changeCountEstimated: false,
        requestCount: 0,
        requestCountEstimated: false,
        firstSeen: '2026-11-26T09:00:00.000Z',
        lastSeen: '2026-11-26T10:15:00.000Z',
      },
      [`${BASE}/api/changes`]: { items: [updateChange()], nextCursor: null },
    });
    openAt('/actors/2', { apiLog: false });
    expect(await screen.findByRole('link', { name: /status: draft → paid/ })).toBeTruthy();
    const sections = screen.getByRole('navigation', { name: 'Sections' });
    expect(
      within(sections)
        .getAllByRole('link')
        .map((link) => link.textContent),
    ).toEqual(['Changes', 'Tables', 'Integrity']);
    expect(screen.queryByRole('heading', { name: 'Latest requests' })).toBeNull();
    expect(screen.queryByText('Requests')).toBeNull();
    expect(fetchStub.calls.some((url) => url.includes('/api/requests'))).toBe(false);
  });
});
