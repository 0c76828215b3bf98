import { act, cleanup, fireEvent, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { stubFetch } from './fixtures.ts';
import { BASE, openAt } from './open-admin.tsx';

afterEach(() => {
  cleanup();
  delete window.__AUDITRUM_ADMIN__;
});

describe('the actor filter', () => {
  it('suggests actors by label or id as one types, and turns a label typed in full into its id', async () => {
    const fetchStub = stubFetch({
      [`${BASE}/api/tables`]: { tables: [], canWrite: false },
      [`${BASE}/api/changes`]: { items: [], nextCursor: null },
      [`${BASE}/api/actors`]: (url: URL) => ({
        status: 200,
        body: {
          actors: [
            { id: '3', label: 'carol@shop.test' },
            { id: 'carlos-7', label: null },
          ].filter((actor) => `${actor.id} ${actor.label}`.includes(url.searchParams.get('q') ?? '')),
        },
      }),
    });
    try {
      openAt('/changes');
      await screen.findByText('No changes recorded yet.');
      const input = screen.getByLabelText(/^Actor/) as HTMLInputElement;
      fireEvent.change(input, { target: { value: 'car' } });
      await waitFor(() => expect(document.querySelectorAll('datalist option')).toHaveLength(2));
      expect(fetchStub.calls).toContain(`${BASE}/api/actors?q=car`);
      expect(
        [...document.querySelectorAll('datalist option')].map((option) => [
          option.getAttribute('value'),
          option.textContent,
        ]),
      ).toEqual([
        ['3', 'carol@shop.test'],
        ['carlos-7', 'carlos-7'],
      ]);
      fireEvent.change(input, { target: { value: 'Carol@Shop.test' } });
      expect(input.value).toBe('3');
      expect(screen.getByText('carol@shop.test: id 3')).toBeTruthy();
      await act(async () => {
        fireEvent.click(screen.getByRole('button', { name: 'Apply filters' }));
      });
      expect(window.location.search).toBe('?actor=3');
    } finally {
      fetchStub.restore();
    }
  });

  it('resolves a label pasted whole once its suggestions come', async () => {
    const fetchStub = stubFetch({
      [`${BASE}/api/tables`]: { tables: [], canWrite: false },
      [`${BASE}/api/changes`]: { items: [], nextCursor: null },
      [`${BASE}/api/actors`]: { actors: [{ id: '3', label: 'carol@shop.test' }] },
    });
    try {
      openAt('/changes');
      await screen.findByText('No changes recorded yet.');
      const input = screen.getByLabelText(/^Actor/) as HTMLInputElement;
      fireEvent.change(input, { target: { value: 'carol@shop.test' } });
      expect(input.value).toBe('carol@shop.test');
      await waitFor(() => expect(input.value).toBe('3'));
      expect(fetchStub.calls).toContain(`${BASE}/api/actors?q=carol%40shop.test`);
    } finally {
      fetchStub.restore();
    }
  });
});
