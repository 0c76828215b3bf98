import pg from 'pg';
import { afterAll, describe, expect, inject, test } from 'vitest';
import { useEmptyDatabase, useTestDatabase, withClient } from '../src/index.js';

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
    await client.connect();
    try {
      expect((await client.query('SELECT current_database() AS name')).rows[0]).toEqual({ name: db.name });
    } finally {
      await client.end();
    }
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
});
