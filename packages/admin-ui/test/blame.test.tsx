import type { BlameResponse, FieldHistoryResponse, RowAsOfResponse } from '@auditrum/core/admin';
import { cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { historyResponse, stubFetch } from './fixtures.ts';
import { BASE, openAt } from './open-admin.tsx';

const change = {
  txid: '7781',
  actorId: '2',
  actorLabel: 'bob@shop.test',
  requestId: '019ac0de-0000-7000-8000-00000000b0b1',
  source: 'http',
  dbUser: null,
  claimed: null,
};

const blame: BlameResponse = {
  table: 'public.orders',
  rowKey: '7',
  fields: [
    {
      field: 'id',
      change: { ...change, id: '40', changedAt: '2026-11-26T10:10:00.000Z', operation: 'INSERT', reason: null },
      oldValue: null,
      newValue: 7,
      masked: false,
      oversized: false,
      erased: false,
      unknown: null,
    },
    {
      field: 'status',
      change: {
        ...change,
        id: '41',
        changedAt: '2026-11-26T10:15:00.000Z',
        operation: 'UPDATE',
        reason: 'customer called',
      },
      oldValue: 'draft',
      newValue: 'paid',
      masked: false,
      oversized: false,
      erased: false,
      unknown: null,
    },
    {
      field: 'note',
      change: null,
      oldValue: null,
      newValue: null,
      masked: false,
      oversized: false,
      erased: false,
      unknown: 'before_tracking',
    },
    {
      field: 'card',
      change: {
        ...change,
        id: '40',
        changedAt: '2026-11-26T10:10:00.000Z',
        operation: 'INSERT',
        reason: null,
        actorId: null,
        actorLabel: null,
        source: 'db',
        dbUser: 'psql_user',
      },
      oldValue: null,
      newValue: 'hmac:00',
      masked: true,
      oversized: false,
      erased: false,
      unknown: null,
    },
  ],
  deletedBy: null,
  when: null,
};

const rowNow: RowAsOfResponse = {
  exists: true,
  rowKey: '7',
  // The API's object order is storage order; the panel follows blame's (the table's column order).
  values: { note: 'fragile', status: 'paid', id: 7 },
  unknown: [{ column: 'card', reason: 'masked' }],
  lastChangeId: '41',
  lastChangedAt: '2026-11-26T10:15:00.000Z',
  rebuiltFrom: 'live',
};

afterEach(() => {
  cleanup();
  delete window.__AUDITRUM_ADMIN__;
});

describe('the row page: blame beside every value', () => {
  it('shows the row now in column order, who set each field, when, in which request and why', async () => {
    const fetchStub = stubFetch({
      [`${BASE}/api/blame`]: blame,
      [`${BASE}/api/row-as-of`]: rowNow,
      [`${BASE}/api/history`]: historyResponse(),
    });
    try {
      openAt('/history?table=public.orders&key=7');
      const panel = await screen.findByRole('region', { name: 'The row now, and who set each field' });
      const rows = await within(panel).findAllByRole('row');
      expect(rows.slice(1).map((row) => row.querySelector('th')?.textContent)).toEqual([
        'id',
        'status',
        'note',
        'card',
      ]);
      const status = rows[2] as HTMLElement;
      expect(status.textContent).toContain('paid');
      expect(within(status).getByRole('link', { name: 'bob@shop.test' }).getAttribute('href')).toBe(`${BASE}/actors/2`);
      expect(within(status).getByRole('link', { name: 'change 41' })).toBeTruthy();
      expect(within(status).getByRole('link', { name: '…0000b0b1' })).toBeTruthy();
      expect(status.textContent).toContain('“customer called”');
      expect(rows[3]?.textContent).toContain('fragile');
      expect(rows[3]?.textContent).toContain('set before the table was tracked');
      expect(rows[4]?.textContent).toContain('masked when recorded');
      expect(rows[4]?.textContent).not.toContain('hmac');
      expect(rows[4]?.textContent).toContain('database role psql_user');
      // "Now" is asked of the server as a time after every change, not the browser's clock.
      expect(fetchStub.calls).toContain(`${BASE}/api/row-as-of?table=public.orders&key=7&at=9999-12-31T00%3A00%3A00Z`);
    } finally {
      fetchStub.restore();
    }
  });

  it("clicking a field shows only that field's values, newest first", async () => {
    const values: FieldHistoryResponse = {
      nextCursor: null,
      entries: [
        {
          changeId: '40',
          changedAt: '2026-11-26T10:10:00.000Z',
          operation: 'INSERT',
          value: 'draft',
          oldValue: null,
          unknown: null,
          rowKey: '7',
          actorId: '2',
          actorLabel: 'bob@shop.test',
          requestId: null,
          reason: null,
        },
        {
          changeId: '41',
          changedAt: '2026-11-26T10:15:00.000Z',
          operation: 'UPDATE',
          value: 'paid',
          oldValue: 'draft',
          unknown: null,
          rowKey: '7',
          actorId: '1',
          actorLabel: null,
          requestId: null,
          reason: 'customer called',
        },
      ],
    };
    const fetchStub = stubFetch({
      [`${BASE}/api/blame`]: blame,
      [`${BASE}/api/row-as-of`]: rowNow,
      [`${BASE}/api/history`]: historyResponse(),
      [`${BASE}/api/field-history`]: values,
    });
    try {
      openAt('/history?table=public.orders&key=7');
      const panel = await screen.findByRole('region', { name: 'The row now, and who set each field' });
      fireEvent.click(await within(panel).findByRole('link', { name: 'status' }));
      expect(window.location.search).toBe('?table=public.orders&key=7&field=status');
      const field = await screen.findByRole('region', { name: 'Every value of status' });
      const items = await within(field).findAllByRole('listitem');
      expect(items.map((item) => item.textContent?.match(/change \d+/)?.[0])).toEqual(['change 41', 'change 40']);
      expect(items[0]?.textContent).toContain('paid');
      // Who, by the label the change recorded (the id when it recorded none).
      expect(
        within(items[1] as HTMLElement)
          .getByRole('link', { name: 'bob@shop.test' })
          .getAttribute('href'),
      ).toBe(`${BASE}/actors/2`);
      expect(
        within(items[0] as HTMLElement)
          .getByRole('link', { name: '1' })
          .getAttribute('title'),
      ).toBe('actor id 1');
      expect(fetchStub.calls).toContain(`${BASE}/api/field-history?table=public.orders&key=7&field=status`);
      // The versions list is not loaded while one field is shown.
      expect(fetchStub.calls.filter((url) => url.startsWith(`${BASE}/api/history`))).toHaveLength(1);
      expect(within(panel).getByRole('row', { current: true }).textContent).toContain('status');
    } finally {
      fetchStub.restore();
    }
  });
  it("pages a field's values: the newest first, older ones by the server's cursor, and back to the newest", async () => {
    const entry = (changeId: string, value: string): FieldHistoryResponse['entries'][number] => ({
      changeId,
      changedAt: '2026-11-26T10:15:00.000Z',
      operation: 'UPDATE',
      value,
      oldValue: null,
      unknown: null,
      rowKey: '7',
      actorId: null,
      actorLabel: null,
      requestId: null,
      reason: null,
    });
    const fetchStub = stubFetch({
      [`${BASE}/api/blame`]: blame,
      [`${BASE}/api/row-as-of`]: rowNow,
      [`${BASE}/api/history`]: historyResponse(),
      [`${BASE}/api/field-history`]: (url: URL) => ({
        status: 200,
        body:
          url.searchParams.get('cursor') === 'older-than-90'
            ? { nextCursor: null, entries: [entry('41', 'paid')] }
            : { nextCursor: 'older-than-90', entries: [entry('90', 'shipped'), entry('91', 'closed')] },
      }),
    });
    try {
      openAt('/history?table=public.orders&key=7&field=status');
      const field = await screen.findByRole('region', { name: 'Every value of status' });
      const first = await within(field).findAllByRole('listitem');
      expect(first.map((item) => item.textContent?.match(/change \d+/)?.[0])).toEqual(['change 91', 'change 90']);
      // Not numbered while older values follow (no count to number from); numbered on the page of the oldest.
      expect(field.querySelector('ol')).toBeNull();
      const pages = within(field).getByRole('navigation', { name: 'Values' });
      expect(pages.textContent).toContain('The newest values');
      fireEvent.click(within(pages).getByRole('link', { name: 'Older values →' }));
      expect(window.location.search).toBe('?table=public.orders&key=7&field=status&cursor=older-than-90');
      await within(field).findByText('change 41');
      expect(fetchStub.calls).toContain(
        `${BASE}/api/field-history?table=public.orders&key=7&field=status&cursor=older-than-90`,
      );
      expect(field.querySelector('ol[reversed]')).not.toBeNull();
      const older = within(field).getByRole('navigation', { name: 'Values' });
      expect(older.textContent).toContain('No older values');
      fireEvent.click(within(older).getByRole('link', { name: '↖ Newest values' }));
      expect(window.location.search).toBe('?table=public.orders&key=7&field=status');
      await within(field).findByText('change 91');
    } finally {
      fetchStub.restore();
    }
  });
});
