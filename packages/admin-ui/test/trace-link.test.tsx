import { cleanup, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { historyResponse, stubFetch, updateChange } from './fixtures.ts';
import { BASE, openAt } from './open-admin.tsx';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

let fetchStub: ReturnType<typeof stubFetch> | undefined;
afterEach(() => {
  cleanup();
  fetchStub?.restore();
  fetchStub = undefined;
  delete window.__AUDITRUM_ADMIN__;
});

function openChange(change: ReturnType<typeof updateChange>, traceUrl?: string): void {
  fetchStub = stubFetch({
    [`${BASE}/api/changes/42`]: { change, request: null },
    [`${BASE}/api/history`]: historyResponse(),
  });
  openAt('/changes/42', traceUrl === undefined ? {} : { traceUrl });
}

describe('a change made in an OpenTelemetry span', () => {
  it("links to the host's trace viewer, the template filled with the trace and span ids", async () => {
    openChange(
      updateChange({ id: '42', context: { source: 'http', trace_id: TRACE, span_id: SPAN } }),
      'https://jaeger.internal/trace/{traceId}?uiFind={spanId}',
    );
    const link = await screen.findByRole('link', { name: TRACE });
    expect(link.getAttribute('href')).toBe(`https://jaeger.internal/trace/${TRACE}?uiFind=${SPAN}`);
    expect(link.getAttribute('rel')).toBe('noopener noreferrer');
    // Shown once, as the trace: not again among the other context fields.
    expect(screen.queryByText(SPAN)).toBeNull();
  });

  it('shows the trace id without a link when the host gave no trace viewer', async () => {
    openChange(updateChange({ id: '42', context: { source: 'http', trace_id: TRACE, span_id: SPAN } }));
    const facts = (await screen.findByText(TRACE)).closest('dl') as HTMLElement;
    expect(facts.textContent).toContain(`Trace${TRACE}`);
    expect(screen.queryByRole('link', { name: TRACE })).toBeNull();
  });

  it('has no trace row for a change made outside any span', async () => {
    openChange(updateChange({ id: '42', context: { source: 'http' } }), 'https://jaeger.internal/trace/{traceId}');
    await screen.findByText('Transaction');
    expect(screen.queryByText('Trace')).toBeNull();
  });
});
