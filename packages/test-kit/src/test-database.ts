import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { createDatabase, databaseUrl, dropDatabase } from './databases.js';
// Brings the ProvidedContext augmentation into every program that uses these helpers.
import type {} from './global-setup.js';

/** A database of the test file's own, alive from its beforeAll to its afterAll. */
export interface TestDatabase {
  /** Its name, e.g. `auditrum_t_3f9a0c1d2b4e`. */
  readonly name: string;
  /** A connection URL with the run's superuser. */
  readonly url: string;
  /** A pool on `url`, ended before the database is dropped. */
  readonly pool: pg.Pool;
}

/** A fresh copy of the migrated template database for this test file. */
export function useTestDatabase(): TestDatabase {
  return useDatabase('useTestDatabase', () => inject('pgTemplate'));
}

/** A fresh database with no Auditrum schema in it, for tests of migrate() itself. */
export function useEmptyDatabase(): TestDatabase {
  return useDatabase('useEmptyDatabase', () => 'template0');
}

function useDatabase(helper: string, template: () => string): TestDatabase {
  let current: { name: string; url: string; pool: pg.Pool } | undefined;

  beforeAll(async () => {
    const adminUrl = inject('pgAdminUrl');
    const name = `auditrum_t_${randomBytes(6).toString('hex')}`;
    await createDatabase(adminUrl, name, template());
    const url = databaseUrl(adminUrl, name);
    current = { name, url, pool: new pg.Pool({ connectionString: url }) };
  });

  afterAll(async () => {
    if (!current) return;
    const { name, pool } = current;
    current = undefined;
    await pool.end();
    await dropDatabase(inject('pgAdminUrl'), name);
  });

  const get = (): NonNullable<typeof current> => {
    if (!current) throw new Error(`${helper}(): the database exists only between beforeAll and afterAll`);
    return current;
  };
  return {
    get name() {
      return get().name;
    },
    get url() {
      return get().url;
    },
    get pool() {
      return get().pool;
    },
  };
}
