import { defaultClientConditions, defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Workspace packages are imported from their TypeScript source (the "@auditrum/source" export
// condition), so tests never need a build. Node tests go through the SSR transform, hence both.
const sourceCondition = '@auditrum/source';
// Vitest also hands these conditions to Node for the dependencies it does not transform. `module` points
// packages such as @opentelemetry/api at bundler-only builds (extensionless imports) that Node cannot load.
const serverConditions = defaultServerConditions.filter((condition) => condition !== 'module');

export default defineConfig({
  resolve: { conditions: [sourceCondition, ...defaultClientConditions] },
  ssr: { resolve: { conditions: [sourceCondition, ...serverConditions] } },
  test: {
    // The database tests do real work (100,000-row statements, servers started) on shared 2-core machines:
    // generous limits, so that a busy neighbour makes a run slower, not red.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          environment: 'node',
          include: ['packages/*/test/**/*.test.ts'],
          globalSetup: ['./test/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          // The admin UI's components, in a simulated DOM; no database (the API is tested in core).
          name: 'ui',
          environment: 'happy-dom',
          environmentOptions: { happyDOM: { url: 'http://admin.test/' } },
          include: ['packages/admin-ui/test/**/*.test.tsx'],
        },
      },
    ],
  },
});
