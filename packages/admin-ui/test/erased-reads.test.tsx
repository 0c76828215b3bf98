import type { BlameResponse, FieldHistoryResponse, RowAsOfResponse } from '@auditrum/core/admin';
import { cleanup, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { historyResponse, insertChange, stubFetch, updateChange } from './fixtures.ts';
import { BASE, openAt } from './open-admin.tsx';

// A row whose email an erasure replaced, then deleted: the API gives an erased value as null and lists it (history,
// blame) or as unknown with reason erased (as of a time, a field's history); the page says "erased on request" and
// never shows the marker's text, nor a null as if the value had been NULL.
const insert = insertChange({
  newValues: { id: 7, email: null, status: 'draft' },
  erased: { old: [], new: ['email'] },
});
const update = updateChange({
  oldValues: { status: 'draft' },
  newValues: { status: 'paid' },
  changedColumns: ['status'],
});
const deleted = updateChange({
  id: '42',
  operation: 'DELETE',
  oldValues: { id: 7, email: null, status: 'paid' },
  newValues: null,
  changedColumns: null,
  erased: { old: ['email'], new: [] },
});

const change = { txid: '7781', actorId: '2', actorLabel: 'bob@shop.test', requestId: null, source: 'http' };
const blame: BlameResponse = {
  table: 'public.orders',
  rowKey: '7',
  fields: [
    {
      field: 'email',
      change: {
        ...change,
        id: '40',
        changedAt: '2026-11-26T10:10:00.000Z',
        operation: 'INSERT',
        reason: null,
        dbUser: null,
        claimed: null,
      },
      oldValue: null,
      newValue: null,
      masked: false,
      oversized: false,
      erased: true,
      unknown: null,
    },
  ],
  deletedBy: {
    ...change,
    id: '42',
    changedAt: '2026-11-26T10:20:00.000Z',
    operation: 'DELETE',
    reason: null,
    dbUser: null,
    claimed: null,
  },
  when: null,
};
const gone: RowAsOfResponse = {
  exists: false,
  rowKey: '7',
  values: {},
  unknown: [],
  lastChangeId: '42',
  lastChangedAt: '2026-11-26T10:20:00.000Z',
  rebuiltFrom: 'none',
};

afterEach(() => {
  cleanup();
  delete window.__AUDITRUM_ADMIN__;
});

describe('an erased value in the row’s pages', () => {
  it('history and blame say "erased on request", never the marker or an empty value', async () => {
    const fetchStub = stubFetch({
      [`${BASE}/api/history`]: historyResponse([
        {
          change: insert,
          state: { id: 7, email: null, status: 'draft' },
          oversized: [],
          erased: ['email'],
          complete: true,
        },
        {
          change: update,
          state: { id: 7, email: null, status: 'paid' },
          oversized: [],
          erased: ['email'],
          complete: true,
        },
        { change: deleted, state: null, oversized: [], erased: [], complete: true },
      ]),
      [`${BASE}/api/blame`]: blame,
      [`${BASE}/api/row-as-of`]: gone,
    });
    try {
      openAt('/history?table=public.orders&key=7');
      const panel = await screen.findByRole('region', { name: 'The row now, and who set each field' });
      const email = (await within(panel).findAllByRole('row'))[1] as HTMLElement;
      expect(email.querySelector('th')?.textContent).toBe('email');
      expect(email.querySelector('td')?.textContent).toBe('erased on request');
      // Who set it and when stay known.
      expect(within(email).getByRole('link', { name: 'change 40' })).toBeTruthy();
      // The versions: the INSERT added it, the UPDATE left it as it was (unchanged, folded), the DELETE removed it.
      const rows = [...document.querySelectorAll<HTMLElement>('ol.versions tr.diff-row')].filter(
        (row) => row.querySelector('th')?.childNodes[1]?.textContent === 'email',
      );
      expect(rows.map((row) => [row.dataset.kind, row.querySelector('.value-erased')?.textContent])).toEqual([
        ['removed', 'erased on request'],
        ['added', 'erased on request'],
      ]);
      expect(document.body.textContent).not.toContain('[erased]');
    } finally {
      fetchStub.restore();
    }
  });

  it('a field’s history and the row as of a time name the reason', async () => {
    const values: FieldHistoryResponse = {
      nextCursor: null,
      entries: [
        {
          changeId: '40',
          changedAt: '2026-11-26T10:10:00.000Z',
          operation: 'INSERT',
          value: null,
          oldValue: null,
          unknown: 'erased',
          rowKey: '7',
          actorId: '2',
          actorLabel: 'bob@shop.test',
          requestId: null,
          reason: null,
        },
      ],
    };
    const then: RowAsOfResponse = {
      exists: true,
      rowKey: '7',
      values: { id: 7, status: 'draft' },
      unknown: [{ column: 'email', reason: 'erased' }],
      lastChangeId: '40',
      lastChangedAt: '2026-11-26T10:10:00.000Z',
      rebuiltFrom: 'forward',
    };
    const fetchStub = stubFetch({
      [`${BASE}/api/history`]: historyResponse(),
      [`${BASE}/api/blame`]: blame,
      [`${BASE}/api/row-as-of`]: (url: URL) => ({
        status: 200,
        body: url.searchParams.get('at')?.startsWith('9999') ? gone : then,
      }),
      [`${BASE}/api/field-history`]: values,
    });
    try {
      openAt('/history?table=public.orders&key=7&field=email&at=2026-11-26T10:12:00Z');
      await screen.findAllByText('erased on request');
      // The row as of the time, and the field's history.
      for (const title of ['at-title', 'field-title']) {
        const region = document.querySelector(`[aria-labelledby="${title}"]`) as HTMLElement;
        expect(region.textContent?.match(/erased on request/g)).toHaveLength(1);
      }
      expect(document.body.textContent).not.toContain('[erased]');
      expect(fetchStub.calls.some((call) => call.startsWith(`${BASE}/api/field-history?`))).toBe(true);
    } finally {
      fetchStub.restore();
    }
  });
});
