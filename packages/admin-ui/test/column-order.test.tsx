import { cleanup, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { insertChange, stubFetch } from './fixtures.ts';
import { BASE, openAt } from './open-admin.tsx';

// As jsonb stores them: shorter keys first.
const stored = { id: 7, note: 'door', total: '10.00', status: 'draft', customer_id: 3 };
const tables = {
  tables: [{ id: 1, schema: 'public', table: 'orders', columns: ['id', 'customer_id', 'status', 'total', 'note'] }],
  canWrite: false,
};

afterEach(() => {
  cleanup();
  delete window.__AUDITRUM_ADMIN__;
});

describe("a row's fields in the table's column order, not the stored order", () => {
  it('in a change’s diff', async () => {
    const fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tables,
      [`${BASE}/api/changes/40`]: { change: insertChange({ newValues: stored }), request: null },
      [`${BASE}/api/history`]: { versions: [], firstNumber: 1, nextCursor: null, newer: null, stateAt: null },
    });
    try {
      openAt('/changes/40');
      await screen.findByText('customer_id', { exact: false });
      await screen.findAllByText('door');
      const keys = () =>
        [...document.querySelectorAll('.diff-table tbody th')].map((th) => th.textContent?.trim().slice(1));
      expect(keys()).toEqual(['id', 'customer_id', 'status', 'total', 'note']);
    } finally {
      fetchStub.restore();
    }
  });

  it('in the changes list’s summary', async () => {
    const fetchStub = stubFetch({
      [`${BASE}/api/tables`]: tables,
      [`${BASE}/api/changes`]: { items: [insertChange({ newValues: stored })], nextCursor: null },
    });
    try {
      openAt('/changes');
      expect(
        (await screen.findByRole('link', { name: /^Change 40: id: 7, customer_id: 3, status: draft/ })).textContent,
      ).toBe('id: 7, customer_id: 3, status: draft (+2 more)');
    } finally {
      fetchStub.restore();
    }
  });
});
