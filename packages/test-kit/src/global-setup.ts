import type pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createDatabase, databaseUrl, dropDatabase, markAsTemplate, withClient } from './databases.js';
import { startPostgresServer } from './start-postgres-server.js';

declare module 'vitest' {
  interface ProvidedContext {
    /** Superuser URL of the run's PostgreSQL server, for creating and dropping databases. */
    pgAdminUrl: string;
    /** The database every useTestDatabase() clones: migrated once per run. */
    pgTemplate: string;
  }
}

export interface GlobalSetupOptions {
  /** Fills the template database (e.g. runs migrations); `client` is connected to it. */
  prepareTemplate(client: pg.Client): Promise<unknown>;
}

/**
 * Builds a Vitest `globalSetup` function: it finds a PostgreSQL server (see
 * startPostgresServer), prepares a template database on it once, and provides both to the
 * test files; its teardown drops the template and stops the server.
 */
export function createGlobalSetup(options: GlobalSetupOptions) {
  return async function setup(project: TestProject): Promise<() => Promise<void>> {
    const startedAt = performance.now();
    const server = await startPostgresServer(project.config.root);
    // The pid keeps concurrent runs against one DATABASE_URL server apart.
    const template = `auditrum_tpl_${process.pid}`;
    try {
      await createDatabase(server.adminUrl, template, 'template0');
      await withClient(databaseUrl(server.adminUrl, template), options.prepareTemplate);
      await markAsTemplate(server.adminUrl, template);
    } catch (error) {
      await dropDatabase(server.adminUrl, template).catch(() => undefined);
      await server.stop();
      throw error;
    }
    const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
    console.log(`[test-kit] PostgreSQL from ${server.description}; template ${template} ready in ${seconds} s`);
    project.provide('pgAdminUrl', server.adminUrl);
    project.provide('pgTemplate', template);
    return async () => {
      await dropDatabase(server.adminUrl, template);
      await server.stop();
    };
  };
}
