import pg from 'pg';
import { afterAll, describe, expect, inject, test } from 'vitest';
import { useAppRole, useEmptyDatabase, useTestDatabase, withClient } from '../src/index.js';

async function databaseExists(name: string): Promise<boolean> {
  return withClient(inject('pgAdminUrl'), async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return rowCount === 1;
  });
}

async function hasAuditrumSchema(pool: pg.Pool): Promise<boolean> {
  const { rowCount } = await pool.query(`SELECT 1 FROM pg_namespace WHERE nspname = 'auditrum'`);
  return rowCount === 1;
}

const names: string[] = [];
const roles: string[] = [];

async function roleExists(name: string): Promise<boolean> {
  return withClient(inject('pgAdminUrl'), async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
    return rowCount === 1;
  });
}

/** Terminates every idle connection to `url`'s database from a connection of its own, until `pool` has none. */
async function killIdle(url: string, pool: pg.Pool): Promise<void> {
  while (pool.totalCount > 0) {
    await withClient(url, (client) =>
      client.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle'`,
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('useTestDatabase()', () => {
  const db = useTestDatabase();

  test('gives the file its own clone of the migrated template', async () => {
    names.push(db.name);
    const { rows } = await db.pool.query<{ name: string }>('SELECT current_database() AS name');
    expect(rows[0]?.name).toBe(db.name);
    expect(db.name).not.toBe(inject('pgTemplate'));
    expect(await hasAuditrumSchema(db.pool)).toBe(true);
  });

  test('gives a URL to the same database', async () => {
    const client = new pg.Client({ connectionString: db.url });
    client.on('error', () => undefined);
    await client.connect();
    try {
      expect((await client.query('SELECT current_database() AS name')).rows[0]).toEqual({ name: db.name });
    } finally {
      await client.end();
    }
  });
});

describe('openPool() and the pool of useTestDatabase()', () => {
  const db = useTestDatabase();

  test('survive their idle connections being terminated (57P01), and go on with new ones', async () => {
    const pool = db.openPool({ max: 2 });
    await Promise.all([pool.query('SELECT pg_sleep(0.01)'), pool.query('SELECT pg_sleep(0.01)')]);
    await killIdle(db.url, pool);
    expect((await pool.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
    // Left open: the file's afterAll ends it before the database is dropped (WITH (FORCE) would kill it).
  });

  test('a pool on another URL, and one the test ends itself, are fine too', async () => {
    const other = db.openPool({ connectionString: inject('pgAdminUrl'), max: 1 });
    expect((await other.query('SELECT current_database() AS name')).rows).toEqual([{ name: 'postgres' }]);
    const ended = db.openPool();
    await ended.query('SELECT 1');
    await ended.end();
  });

  test('the shared pool too', async () => {
    await db.pool.query('SELECT 1');
    await killIdle(db.url, db.pool);
    expect((await db.pool.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
  });
});

describe('useAppRole()', () => {
  const db = useTestDatabase();
  const app = useAppRole(db);

  test('logs in as a role that is not a superuser and owns the tables it creates', async () => {
    roles.push(app.name);
    const pool = app.openPool({ max: 1 });
    await pool.query('CREATE TABLE owned (id int)');
    const { rows } = await db.pool.query(
      `SELECT r.rolsuper, t.tableowner FROM pg_roles r, pg_tables t WHERE r.rolname = $1 AND t.tablename = 'owned'`,
      [app.name],
    );
    expect(rows).toEqual([{ rolsuper: false, tableowner: app.name }]);
  });
});

describe('useEmptyDatabase()', () => {
  const db = useEmptyDatabase();

  test('gives a database without the Auditrum schema', async () => {
    names.push(db.name);
    expect(await hasAuditrumSchema(db.pool)).toBe(false);
  });
});

describe('outside beforeAll…afterAll', () => {
  const db = useTestDatabase();
  // Read while the file is being collected, before any beforeAll has run.
  const earlyRead = (() => {
    try {
      return db.pool;
    } catch (error) {
      return error;
    }
  })();

  test('the getters say when the database exists', () => {
    expect(earlyRead).toEqual(new Error('useTestDatabase(): the database exists only between beforeAll and afterAll'));
    expect(db.pool).toBeInstanceOf(pg.Pool);
  });
});

afterAll(async () => {
  expect(names).toHaveLength(2);
  for (const name of names) expect(await databaseExists(name)).toBe(false);
  expect(roles).toHaveLength(1);
  for (const role of roles) expect(await roleExists(role)).toBe(false);
});
