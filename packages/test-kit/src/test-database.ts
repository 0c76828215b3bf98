import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { createDatabase, databaseUrl, dropDatabase } from './databases.js';
// Brings the ProvidedContext augmentation into every program that uses these helpers.
import type {} from './global-setup.js';
import { ignoreIdleErrors } from './idle-errors.js';

/** A database of the test file's own, alive from its beforeAll to its afterAll. */
export interface TestDatabase {
  /** Its name, e.g. `auditrum_t_3f9a0c1d2b4e`. */
  readonly name: string;
  /** A connection URL with the run's superuser. */
  readonly url: string;
  /** A pool on `url`, ended before the database is dropped. */
  readonly pool: pg.Pool;
  /**
   * Opens another pool (on `url` unless the config names another connection) that handles idle-connection
   * errors and is ended, if the test has not ended it, before the database is dropped.
   */
  openPool(config?: pg.PoolConfig): pg.Pool;
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
  let current: { name: string; url: string; pool: pg.Pool; pools: Set<pg.Pool> } | undefined;

  beforeAll(async () => {
    const adminUrl = inject('pgAdminUrl');
    const name = `auditrum_t_${randomBytes(6).toString('hex')}`;
    await createDatabase(adminUrl, name, template());
    const url = databaseUrl(adminUrl, name);
    current = { name, url, pool: ignoreIdleErrors(new pg.Pool({ connectionString: url })), pools: new Set() };
  });

  afterAll(async () => {
    if (!current) return;
    const { name, pool, pools } = current;
    current = undefined;
    // A pool still open when the database is dropped WITH (FORCE) would see its connections terminated.
    await Promise.all([pool, ...pools].filter((open) => !open.ending).map((open) => open.end()));
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
    openPool(config = {}) {
      const { url, pools } = get();
      const hasConnection = ['connectionString', 'host', 'database', 'user'].some((key) => key in config);
      const pool = ignoreIdleErrors(new pg.Pool(hasConnection ? config : { connectionString: url, ...config }));
      pools.add(pool);
      return pool;
    },
  };
}
