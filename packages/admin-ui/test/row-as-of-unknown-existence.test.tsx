import { cleanup, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { insertChange, stubFetch } from './fixtures.ts';
import { BASE, openAt } from './open-admin.tsx';

afterEach(() => {
  cleanup();
  delete window.__AUDITRUM_ADMIN__;
});

describe('the row as of a time, of unknown existence', () => {
  it('says the row may not have existed then, and shows it as last recorded', async () => {
    const inserted = insertChange({ newValues: { id: 7, status: 'draft', total: '10.00' } });
    const at = '2026-11-26T12:00:00.000Z';
    const fetchStub = stubFetch({
      [`${BASE}/api/tables`]: {
        tables: [{ id: 1, schema: 'public', table: 'orders', columns: ['id', 'status', 'total'] }],
        canWrite: false,
      },
      [`${BASE}/api/row-as-of`]: {
        exists: null,
        rowKey: '7',
        values: { id: 7 },
        unknown: [
          { column: 'status', reason: 'untracked_gap' },
          { column: 'total', reason: 'untracked_gap' },
        ],
        lastChangeId: '40',
        lastChangedAt: inserted.changedAt,
        rebuiltFrom: 'forward',
      },
      [`${BASE}/api/history`]: {
        versions: [{ change: inserted, state: { id: 7, status: 'draft', total: '10.00' }, complete: true }],
        firstNumber: 1,
        nextCursor: null,
        newer: null,
        stateAt: null,
      },
    });
    try {
      openAt(`/history?table=public.orders&key=7&at=${encodeURIComponent(at)}`);
      const note = await screen.findByRole('note');
      expect(note.textContent).toMatch(/^The row may not have existed at .*: the table was not tracked for a while/);
      expect(note.textContent).toMatch(/it may have been inserted or deleted then, unseen\. As last recorded:$/);
      expect(screen.queryByText(/did not exist at/)).toBeNull();
      const gap = 'unknown (the table was not tracked for a while)';
      await waitFor(() => expect(document.querySelector('dl.record')?.textContent).toBe(`id7status${gap}total${gap}`));
    } finally {
      fetchStub.restore();
    }
  });
});
