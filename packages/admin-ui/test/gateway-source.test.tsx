import { cleanup, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { directWriteChange, historyResponse, stubFetch } from './fixtures.ts';
import { BASE, openAt } from './open-admin.tsx';

let fetchStub: ReturnType<typeof stubFetch> | undefined;
afterEach(() => {
  cleanup();
  fetchStub?.restore();
  fetchStub = undefined;
  delete window.__AUDITRUM_ADMIN__;
});

// A write through PostgREST or Hasura, attributed to the gateway's user by the capture function (schema 15).
describe('a change made through a gateway', () => {
  it('names the gateway as its source and its user as the actor', async () => {
    const change = directWriteChange({
      actor: { id: 'u-1', label: null },
      source: 'gateway',
      context: {
        source: 'gateway',
        gateway: 'postgrest',
        role: 'authenticated',
        email: 'a@b.test',
        db_user: 'authenticator',
        application_name: 'PostgREST 12',
      },
    });
    fetchStub = stubFetch({
      [`${BASE}/api/changes/42`]: { change, request: null },
      [`${BASE}/api/history`]: historyResponse(),
    });
    openAt('/changes/42');
    await screen.findByText('gateway (postgrest)');
    const facts = document.querySelector('dl.facts') as HTMLElement;
    expect(facts.textContent).toContain('Sourcegateway (postgrest)');
    expect(screen.getAllByRole('link', { name: 'u-1' }).length).toBeGreaterThan(0);
  });

  it('can be chosen in the source filter of the changes list', async () => {
    fetchStub = stubFetch({
      [`${BASE}/api/tables`]: { tables: [] },
      [`${BASE}/api/changes`]: { items: [], nextCursor: null },
    });
    openAt('/changes');
    const option = await screen.findByRole('option', { name: 'gateways (PostgREST, Supabase, Hasura)' });
    expect((option as HTMLOptionElement).value).toBe('gateway');
  });
});
