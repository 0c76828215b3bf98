import { cleanup, fireEvent, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { insertChange, stubFetch, updateChange } from './fixtures.ts';
import { BASE, openAt } from './open-admin.tsx';

afterEach(() => {
  cleanup();
  delete window.__AUDITRUM_ADMIN__;
});

describe('keyboard', () => {
  it('/ focuses the search; j and k move between the rows’ links; not while typing or with a modifier', async () => {
    const fetchStub = stubFetch({
      [`${BASE}/api/tables`]: { tables: [], canWrite: false },
      [`${BASE}/api/changes`]: { items: [updateChange(), insertChange()], nextCursor: null },
    });
    try {
      openAt('/changes');
      const first = await screen.findByRole('link', { name: /^Change 41:/ });
      const second = screen.getByRole('link', { name: /^Change 40:/ });

      fireEvent.keyDown(document.body, { key: '/' });
      const search = screen.getByLabelText('Search in changed values');
      expect(document.activeElement).toBe(search);
      // Typed into the field, j is a letter.
      fireEvent.keyDown(search, { key: 'j' });
      expect(document.activeElement).toBe(search);

      search.blur();
      fireEvent.keyDown(document.body, { key: 'j' });
      expect(document.activeElement).toBe(first);
      fireEvent.keyDown(first, { key: 'j' });
      expect(document.activeElement).toBe(second);
      fireEvent.keyDown(second, { key: 'j' });
      expect(document.activeElement).toBe(second);
      fireEvent.keyDown(second, { key: 'k' });
      expect(document.activeElement).toBe(first);
      fireEvent.keyDown(first, { key: 'j', ctrlKey: true });
      expect(document.activeElement).toBe(first);
    } finally {
      fetchStub.restore();
    }
  });
});
