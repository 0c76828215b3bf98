// One PostgreSQL server per run, and a template database with Auditrum's schema that each
// test file clones (see docs/testing.md).
//
// Relative imports, not package names: Vitest loads global setup files in an environment of
// its own that ignores the "@auditrum/source" condition, so a package name would resolve to
// dist/, which exists only after a build.
import { migrate } from '../packages/core/src/index.js';
import { createGlobalSetup } from '../packages/test-kit/src/index.js';

export default createGlobalSetup({ prepareTemplate: (client) => migrate(client) });
