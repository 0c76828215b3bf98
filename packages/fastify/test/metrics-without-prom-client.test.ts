import { fileURLToPath } from 'node:url';
import { mountAuditMetricsWithoutPromClient } from '@auditrum/test-kit';
import { expect, it } from 'vitest';

// docs/observability.md: without prom-client, auditMetrics() throws when the app starts, naming the missing package.
it('auditMetrics() without prom-client refuses to be mounted, naming the package; the adapter still loads', async () => {
  const packageDir = fileURLToPath(new URL('..', import.meta.url));
  expect(await mountAuditMetricsWithoutPromClient('@auditrum/fastify', packageDir)).toEqual({
    loaded: true,
    refusal: 'auditrum: auditMetrics() needs prom-client, an optional peer dependency: npm install prom-client',
  });
});
