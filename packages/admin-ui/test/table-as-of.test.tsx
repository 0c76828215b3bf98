import type { TableAsOfResponse, TableRowAsOf } from '@auditrum/core/admin';
import { act, cleanup, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { stubFetch } from './fixtures.ts';
import { BASE, openAt } from './open-admin.tsx';

const page: TableAsOfResponse = {
  columns: ['id', 'status', 'total', 'card'],
  items: [
    {
      exists: true,
      rowKey: '7',
      values: { total: '12.50', id: 7, status: 'paid' },
      unknown: [{ column: 'card', reason: 'masked' }],
      lastChangeId: '41',
      lastChangedAt: '2026-11-26T10:15:00.000Z',
      rebuiltFrom: 'forward',
    },
  ],
  nextCursor: 'azo3',
};

afterEach(() => {
  cleanup();
  delete window.__AUDITRUM_ADMIN__;
});

describe('a table as of a time', () => {
  it('shows the rows of that time in the table’s column order, unknown values with their reason, and the exports', async () => {
    const at = '2026-11-26T10:20:00.000Z';
    const fetchStub = stubFetch({ [`${BASE}/api/table-as-of`]: page });
    try {
      openAt(`/table-as-of?table=public.orders&at=${encodeURIComponent(at)}&key=7`);
      const table = await screen.findByRole('table');
      expect(
        within(table)
          .getAllByRole('columnheader')
          .map((th) => th.textContent),
      ).toEqual(['Key', 'id', 'status', 'total', 'card']);
      const row = within(table).getAllByRole('row')[1] as HTMLElement;
      expect([...row.children].map((cell) => cell.textContent)).toEqual([
        '7',
        '7',
        'paid',
        '"12.50"',
        'masked when recorded',
      ]);
      expect(within(row).getByRole('link', { name: '7' }).getAttribute('href')).toBe(
        `${BASE}/history?table=public.orders&key=7&at=${encodeURIComponent(at)}`,
      );
      expect(fetchStub.calls).toEqual([
        `${BASE}/api/table-as-of?table=public.orders&at=${encodeURIComponent(at)}&key=7`,
      ]);
      expect(screen.getByRole('link', { name: 'CSV' }).getAttribute('href')).toBe(
        `${BASE}/api/table-as-of/export?table=public.orders&at=${encodeURIComponent(at)}&key=7&format=csv`,
      );
      expect(screen.getByRole('link', { name: 'NDJSON' }).getAttribute('href')).toContain('format=ndjson');
      expect(screen.getByRole('link', { name: /Next page/ }).getAttribute('href')).toContain('cursor=azo3');
    } finally {
      fetchStub.restore();
    }
  });

  it('lists a row of unknown existence (deleted unseen, perhaps, while untracked) marked, not hidden nor plain', async () => {
    const at = '2026-11-26T10:20:00.000Z';
    const unseen = {
      exists: null,
      rowKey: '8',
      values: { id: 8 },
      unknown: ['status', 'total', 'card'].map((column) => ({ column, reason: 'untracked_gap' as const })),
      lastChangeId: '40',
      lastChangedAt: '2026-11-26T09:00:00.000Z',
      rebuiltFrom: 'forward' as const,
    };
    const fetchStub = stubFetch({
      [`${BASE}/api/table-as-of`]: { ...page, items: [...page.items, unseen], nextCursor: null },
    });
    try {
      openAt(`/table-as-of?table=public.orders&at=${encodeURIComponent(at)}`);
      const table = await screen.findByRole('table');
      const [, known, marked] = within(table).getAllByRole('row') as HTMLElement[];
      expect(known?.dataset.exists).toBe('true');
      expect(known?.textContent).not.toContain('may not have existed');
      expect(marked?.dataset.exists).toBe('unknown');
      const key = within(marked as HTMLElement).getByRole('rowheader');
      expect(key.textContent).toBe('8 may not have existed');
      expect(within(key).getByText('may not have existed').getAttribute('title')).toMatch(
        /may have been inserted or deleted then, unseen/,
      );
    } finally {
      fetchStub.restore();
    }
  });

  it('asks for nothing until a time is picked, then puts the time (an instant) and the key in the URL', async () => {
    const fetchStub = stubFetch({ [`${BASE}/api/table-as-of`]: { ...page, nextCursor: null } });
    try {
      openAt('/table-as-of?table=public.orders');
      expect(screen.getByRole('heading', { name: 'public.orders as of a time' })).toBeTruthy();
      expect(fetchStub.calls).toEqual([]);
      fireEvent.change(screen.getByLabelText(/^Time \(/), { target: { value: '2026-11-26T11:00:00' } });
      fireEvent.change(screen.getByLabelText('Key contains'), { target: { value: ' 7 ' } });
      await act(async () => {
        fireEvent.click(screen.getByRole('button', { name: 'Show the rows' }));
      });
      // The end of the second picked: a change within it counts.
      const expected = `${new Date('2026-11-26T11:00:00').toISOString().slice(0, 19)}.999999Z`;
      expect(new URLSearchParams(window.location.search).get('at')).toBe(expected);
      expect(new URLSearchParams(window.location.search).get('key')).toBe('7');
      await screen.findByRole('table');
      expect(fetchStub.calls).toEqual([
        `${BASE}/api/table-as-of?table=public.orders&at=${encodeURIComponent(expected)}&key=7`,
      ]);
    } finally {
      fetchStub.restore();
    }
  });

  it('a search by key that stopped at its bound says up to which key it searched, and offers the next page', async () => {
    const at = '2026-11-26T10:20:00.000Z';
    const fetchStub = stubFetch({
      [`${BASE}/api/table-as-of`]: { ...page, items: [], nextCursor: 'azoyMDAwMQ', searchedTo: '20001' },
    });
    try {
      openAt(`/table-as-of?table=public.orders&at=${encodeURIComponent(at)}&key=4242`);
      const note = await screen.findByText(/No match yet in the keys up to/);
      expect(note.textContent).toBe(
        'No match yet in the keys up to 20001. Later keys are not searched yet: Next page searches further.',
      );
      expect(screen.queryByRole('table')).toBeNull();
      expect(screen.queryByText('No more rows match.')).toBeNull();
      expect(screen.getByRole('link', { name: /Next page/ }).getAttribute('href')).toBe(
        `${BASE}/table-as-of?table=public.orders&at=${encodeURIComponent(at)}&key=4242&cursor=azoyMDAwMQ`,
      );
    } finally {
      fetchStub.restore();
    }
  });

  it('a short page of a search by key shows its rows, then how far it searched', async () => {
    const at = '2026-11-26T10:20:00.000Z';
    const fetchStub = stubFetch({
      [`${BASE}/api/table-as-of`]: { ...page, nextCursor: 'azoyMDAwMQ', searchedTo: '20001' },
    });
    try {
      openAt(`/table-as-of?table=public.orders&at=${encodeURIComponent(at)}&key=7`);
      const table = await screen.findByRole('table');
      expect(within(table).getAllByRole('row')).toHaveLength(2);
      expect(screen.getByRole('status').textContent).toMatch(/^1 found in the keys up to 20001\. /);
    } finally {
      fetchStub.restore();
    }
  });

  it('a complete page of a search by key says nothing of the kind', async () => {
    const fetchStub = stubFetch({ [`${BASE}/api/table-as-of`]: page });
    try {
      openAt('/table-as-of?table=public.orders&at=2026-11-26T10%3A20%3A00.000Z&key=7');
      await screen.findByRole('table');
      expect(screen.queryByText(/in the keys up to/)).toBeNull();
    } finally {
      fetchStub.restore();
    }
  });

  it('shows the row of the exact key typed above a page that has not reached it, and not twice', async () => {
    const at = '2026-11-26T10:20:00.000Z';
    const exact = { ...page.items[0], rowKey: '150000', values: { id: 150000, status: 'paid' } } as TableRowAsOf;
    const fetchStub = stubFetch({
      [`${BASE}/api/table-as-of`]: { ...page, items: [], nextCursor: 'azoyMDAwMQ', searchedTo: '20001', exact },
    });
    try {
      openAt(`/table-as-of?table=public.orders&at=${encodeURIComponent(at)}&key=150000`);
      const section = await screen.findByRole('region', { name: 'The row with this key' });
      expect(section.querySelector('p')?.textContent).toBe('The row whose key is 150000:');
      expect(
        within(section)
          .getAllByRole('row')
          .map((row) => row.getAttribute('data-row-key')),
      ).toEqual([null, '150000']);
      expect(screen.getByText(/No match yet in the keys up to/)).toBeTruthy();
      cleanup();
      fetchStub.restore();
      const within7 = stubFetch({ [`${BASE}/api/table-as-of`]: { ...page, exact: page.items[0] } });
      openAt(`/table-as-of?table=public.orders&at=${encodeURIComponent(at)}&key=7`);
      await screen.findByRole('table');
      expect(screen.queryByRole('region', { name: 'The row with this key' })).toBeNull();
      within7.restore();
    } finally {
      fetchStub.restore();
    }
  });
});
