import { act, cleanup, fireEvent, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { stubFetch } from './fixtures.ts';
import { BASE, openAt } from './open-admin.tsx';

/** The changes route refusing one parameter, as the server does (400 bad_parameter naming it). */
function refusing(parameter: string, message: string) {
  return stubFetch({
    [`${BASE}/api/tables`]: { tables: [{ id: 1, schema: 'public', table: 'orders' }], canWrite: false },
    [`${BASE}/api/changes`]: (url: URL) =>
      url.searchParams.has(parameter)
        ? { status: 400, body: { error: { code: 'bad_parameter', message, parameter } } }
        : { status: 200, body: { items: [], nextCursor: null } },
  });
}

let fetchStub: ReturnType<typeof stubFetch> | undefined;
afterEach(() => {
  cleanup();
  fetchStub?.restore();
  fetchStub = undefined;
  delete window.__AUDITRUM_ADMIN__;
});

describe('a filter the server refuses', () => {
  it('is named with its reason beside the field, keeps what was typed, and offers no useless "Try again"', async () => {
    fetchStub = refusing('txid', 'must be a transaction id (digits)');
    openAt('/changes?txid=12x&actor=7');
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('Invalid value for "txid"');
    expect(alert.textContent).toContain('must be a transaction id (digits)');
    expect(screen.queryByRole('button', { name: 'Try again' })).toBeNull();
    const field = screen.getByLabelText(/Transaction/) as HTMLInputElement;
    expect(field.value).toBe('12x');
    expect(field.getAttribute('aria-invalid')).toBe('true');
    const reason = document.getElementById(field.getAttribute('aria-describedby') ?? '');
    expect(reason?.textContent).toBe('must be a transaction id (digits)');
    // The other filters are kept too, and not marked.
    const actor = screen.getByLabelText(/^Actor/) as HTMLInputElement;
    expect(actor.value).toBe('7');
    expect(actor.getAttribute('aria-invalid')).toBeNull();
  });

  it('keeps a time that is not one as typed (not an emptied date field) and sends it for the server to name', async () => {
    fetchStub = refusing('from', 'must be an ISO 8601 date or date-time with a time zone');
    openAt('/changes');
    await screen.findByText('No changes recorded yet.');
    const from = screen.getByLabelText(/^From/) as HTMLInputElement;
    // As a script or an old browser can: a text that is not a time.
    from.type = 'text';
    fireEvent.change(from, { target: { value: 'yesterday noon' } });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Apply filters' }));
    });
    expect(new URLSearchParams(window.location.search).get('from')).toBe('yesterday noon');
    expect((await screen.findByRole('alert')).textContent).toContain('Invalid value for "from"');
    const kept = screen.getByLabelText(/^From/) as HTMLInputElement;
    expect(kept.type).toBe('text');
    expect(kept.value).toBe('yesterday noon');
    expect(kept.getAttribute('aria-invalid')).toBe('true');
  });

  it('keeps an operation that is not one selected and named, rather than showing "any"', async () => {
    fetchStub = refusing('operation', 'must be one of INSERT, UPDATE, DELETE, TRUNCATE');
    openAt('/changes?operation=MERGE');
    await screen.findByRole('alert');
    const operation = screen.getByLabelText(/^Operation/) as HTMLSelectElement;
    expect(operation.value).toBe('MERGE');
    expect(operation.getAttribute('aria-invalid')).toBe('true');
  });
});
