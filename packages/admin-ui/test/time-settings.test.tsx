import { act, cleanup, fireEvent, screen } from '@testing-library/react';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { absoluteTime, endOfPickedTime, fromDateTimeLocal, toDateTimeLocal } from '../src/lib/time.ts';
import { setTimeSettings } from '../src/lib/time-settings.ts';
import { historyResponse, insertChange, stubFetch, updateChange } from './fixtures.ts';
import { BASE, openAt } from './open-admin.tsx';

const LOCAL = { utc: false, ms: false };
const originalZone = process.env.TZ;

// A zone with an offset and daylight saving time, whatever the machine's zone is.
beforeAll(() => {
  process.env.TZ = 'Europe/Vienna';
});
afterAll(() => {
  process.env.TZ = originalZone;
});
afterEach(() => {
  cleanup();
  setTimeSettings(LOCAL);
  window.localStorage.clear();
  delete window.__AUDITRUM_ADMIN__;
});

describe('times', () => {
  it('are shown with their zone, in UTC when chosen, to the millisecond when chosen', () => {
    const iso = '2026-11-26T10:15:00.123456Z';
    expect(absoluteTime(iso, LOCAL)).toBe('2026-11-26 11:15:00 UTC+1');
    expect(absoluteTime('2026-07-01T10:00:00Z', LOCAL)).toBe('2026-07-01 12:00:00 UTC+2');
    expect(absoluteTime(iso, { utc: true, ms: false })).toBe('2026-11-26 10:15:00 UTC');
    expect(absoluteTime(iso, { utc: false, ms: true })).toBe('2026-11-26 11:15:00.123 UTC+1');
  });

  it('are read from an input in the chosen zone, and a picked time stands for the end of what it shows', () => {
    expect(toDateTimeLocal('2026-11-26T10:15:00.123Z', LOCAL)).toBe('2026-11-26T11:15:00');
    expect(toDateTimeLocal('2026-11-26T10:15:00.123Z', { utc: true, ms: true })).toBe('2026-11-26T10:15:00.123');
    expect(fromDateTimeLocal('2026-11-26T11:15:00', LOCAL)).toBe('2026-11-26T10:15:00.000Z');
    expect(fromDateTimeLocal('2026-11-26T11:15:00', { utc: true, ms: false })).toBe('2026-11-26T11:15:00.000Z');
    expect(endOfPickedTime('2026-11-26T11:15:00', LOCAL)).toBe('2026-11-26T10:15:00.999999Z');
    expect(endOfPickedTime('2026-11-26T11:15', LOCAL)).toBe('2026-11-26T10:15:00.999999Z');
    expect(endOfPickedTime('2026-11-26T11:15:00.123', LOCAL)).toBe('2026-11-26T10:15:00.123999Z');
    expect(endOfPickedTime('not a time', LOCAL)).toBe('');
  });

  it('switch to UTC and milliseconds from the header, everywhere at once, and are kept for the next visit', async () => {
    const fetchStub = stubFetch({
      [`${BASE}/api/tables`]: { tables: [], canWrite: false },
      [`${BASE}/api/changes`]: {
        items: [updateChange({ changedAt: '2026-11-26T10:15:00.123456Z' })],
        nextCursor: null,
      },
    });
    try {
      openAt('/changes');
      const time = () => document.querySelector('td.col-changedAt .time-absolute')?.textContent;
      await screen.findByRole('link', { name: /^Change 41/ });
      expect(time()).toBe('2026-11-26 11:15:00 UTC+1');
      expect(screen.getByLabelText(/^From/).closest('label')?.textContent).toContain('(UTC+1)');
      await act(async () => {
        fireEvent.change(screen.getByLabelText(/Times in/), { target: { value: 'utc' } });
      });
      expect(time()).toBe('2026-11-26 10:15:00 UTC');
      await act(async () => {
        fireEvent.click(screen.getByLabelText('ms'));
      });
      expect(time()).toBe('2026-11-26 10:15:00.123 UTC');
      expect(JSON.parse(window.localStorage.getItem('auditrum-admin:time') ?? '{}')).toEqual({ utc: true, ms: true });
    } finally {
      fetchStub.restore();
    }
  });

  it("asking for the row as of a version's shown time finds that version (recorded within the shown second)", async () => {
    const changedAt = '2026-11-26T10:15:00.456789Z';
    const history = historyResponse([
      { change: insertChange(), state: { id: 7, status: 'draft' }, oversized: [], erased: [], complete: true },
      {
        change: updateChange({ changedAt }),
        state: { id: 7, status: 'paid' },
        oversized: [],
        erased: [],
        complete: true,
      },
    ]);
    const fetchStub = stubFetch({ [`${BASE}/api/history`]: history });
    try {
      openAt('/history?table=public.orders&key=7');
      await screen.findByText('Version 2:', { exact: false });
      const shown = [...document.querySelectorAll('ol.versions .time-absolute')].map((el) => el.textContent);
      expect(shown).toContain('2026-11-26 11:15:00 UTC+1');
      // What a user types after reading it: the shown date and time.
      fireEvent.change(screen.getByLabelText(/^Time \(/), { target: { value: '2026-11-26T11:15:00' } });
      await act(async () => {
        fireEvent.click(screen.getByRole('button', { name: 'Show the row' }));
      });
      const at = new URLSearchParams(window.location.search).get('at') ?? '';
      expect(at).toBe('2026-11-26T10:15:00.999999Z');
      // The same format: the asked time is at or after the version's, so the server's as-of includes it.
      expect(at >= changedAt).toBe(true);
    } finally {
      fetchStub.restore();
    }
  });
});
