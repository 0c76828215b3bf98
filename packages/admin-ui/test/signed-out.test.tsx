import { cleanup, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { stubFetch } from './fixtures.ts';
import { BASE, openAt } from './open-admin.tsx';

afterEach(() => {
  cleanup();
  delete window.__AUDITRUM_ADMIN__;
});

function signedOut() {
  return stubFetch({
    [`${BASE}/api/tables`]: () => ({
      status: 401,
      body: { error: { code: 'unauthorized', message: 'log in to see the audit log' } },
    }),
    [`${BASE}/api/changes`]: () => ({
      status: 401,
      body: { error: { code: 'unauthorized', message: 'log in to see the audit log' } },
    }),
  });
}

describe('a session that ends while the admin is open', () => {
  it('links to the host’s sign-in page with the way back, when the server gives loginUrl', async () => {
    const fetchStub = signedOut();
    try {
      openAt('/changes?actor=7', { apiLog: true, loginUrl: '/login?app=shop' });
      const alert = await screen.findByRole('alert');
      expect(alert.textContent).toContain('You are not signed in');
      expect(screen.getByRole('link', { name: 'Sign in' }).getAttribute('href')).toBe(
        `/login?app=shop&next=${encodeURIComponent(`${BASE}/changes?actor=7`)}`,
      );
      expect(screen.queryByRole('button', { name: 'Try again' })).toBeNull();
    } finally {
      fetchStub.restore();
    }
  });

  it('offers to try again when there is no sign-in page to link', async () => {
    const fetchStub = signedOut();
    try {
      openAt('/changes', { apiLog: true });
      await screen.findByRole('alert');
      expect(screen.queryByRole('link', { name: 'Sign in' })).toBeNull();
      expect(screen.getByRole('button', { name: 'Try again' })).toBeTruthy();
    } finally {
      fetchStub.restore();
    }
  });
});
