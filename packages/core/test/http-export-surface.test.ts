import { describe, expect, it } from 'vitest';

// @auditrum/core/http is the adapters' seam: a value added to it is a promise to every adapter package and its
// users, so growing it is a decision made here, not a side effect of an export added for a test.
describe('@auditrum/core/http', () => {
  it('exports only what an adapter needs: the middleware core, the remembered scope, the assignment watcher and the metrics endpoint', async () => {
    const surface = await import('@auditrum/core/http');
    expect(Object.keys(surface).sort()).toEqual([
      'HttpAudit',
      'metricsEndpoint',
      'rememberScope',
      'rememberedScope',
      'watchAssignment',
    ]);
  });
});
