import { migrate } from '@auditrum/core';
import { createGlobalSetup } from '@auditrum/test-kit';

// One PostgreSQL server per run, and a template database with Auditrum's schema that each
// test file clones (see docs/testing.md).
export default createGlobalSetup({ prepareTemplate: (client) => migrate(client) });
