import { useEmptyDatabase, withClient } from '@auditrum/test-kit';
import pg from 'pg';
import { describe, expect, test } from 'vitest';
import { migrations } from '../src/generated/migrations.js';
import { migrate, SchemaTooNewError } from '../src/index.js';
import { NOTHING_RESTORED } from './nothing-restored.js';

const allIds = migrations.map((m) => m.id);
const latest = allIds.length;

async function appliedRows(pool: pg.Pool, schema = 'auditrum') {
  const { rows } = await pool.query<{ id: number; name: string }>(
    `SELECT id, name FROM ${pg.escapeIdentifier(schema)}.schema_migrations ORDER BY id`,
  );
  return rows;
}

describe('on a fresh database', () => {
  const db = useEmptyDatabase();

  test('applies every migration and records each one', async () => {
    expect(await migrate(db.pool)).toEqual({
      schema: 'auditrum',
      applied: allIds,
      version: latest,
      restored: NOTHING_RESTORED,
    });
    expect(await appliedRows(db.pool)).toEqual(migrations.map(({ id, name }) => ({ id, name })));
  });

  test('then applies nothing when run again', async () => {
    expect(await migrate(db.pool)).toEqual({
      schema: 'auditrum',
      applied: [],
      version: latest,
      restored: NOTHING_RESTORED,
    });
    expect(await appliedRows(db.pool)).toHaveLength(latest);
  });

  test('accepts a connected client as well as a pool', async () => {
    const result = await withClient(db.url, (client) => migrate(client, { schema: 'via_client' }));
    expect(result).toEqual({
      schema: 'via_client',
      applied: allIds,
      version: latest,
      restored: NOTHING_RESTORED,
    });
  });
});

describe('two processes migrating an empty database at once', () => {
  const db = useEmptyDatabase();

  test('both succeed and each migration is applied once', async () => {
    const pools = [db.openPool(), db.openPool()];
    try {
      const results = await Promise.all(pools.map((pool) => migrate(pool)));
      expect(results.map((r) => r.applied).sort()).toEqual([[], allIds]);
      expect(results.map((r) => r.version)).toEqual([latest, latest]);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
    expect((await appliedRows(db.pool)).map((r) => r.id)).toEqual(allIds);
  });
});

describe('a database migrated by a newer @auditrum/core', () => {
  const db = useEmptyDatabase();

  test('is refused with SchemaTooNewError, and left as it was', async () => {
    await migrate(db.pool);
    await db.pool.query(`INSERT INTO auditrum.schema_migrations (id, name) VALUES (9999, '009999.sql')`);

    const error = await migrate(db.pool).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SchemaTooNewError);
    expect(error).toMatchObject({
      message: `database schema "auditrum" is at migration 9999 but this @auditrum/core only knows migrations up to ${latest}; upgrade @auditrum/core`,
      schema: 'auditrum',
      databaseVersion: 9999,
      codeVersion: latest,
    });
    expect((await appliedRows(db.pool)).map((r) => r.id)).toEqual([...allIds, 9999]);
  });
});

describe('schema names', () => {
  const db = useEmptyDatabase();

  test('any name PostgreSQL accepts works, quotes, spaces and $& included', async () => {
    const schema = 'my "audit" $& schema';
    expect(await migrate(db.pool, { schema })).toEqual({
      schema,
      applied: allIds,
      version: latest,
      restored: NOTHING_RESTORED,
    });
    expect(await appliedRows(db.pool, schema)).toHaveLength(latest);
    const { rows } = await db.pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    expect(rows).toHaveLength(1);
    // Again, on an installed schema: the look for a restored registry names the schema as it is.
    expect(await migrate(db.pool, { schema })).toMatchObject({ schema, applied: [], version: latest });
  });

  test('a 63-byte name, the longest PostgreSQL keeps intact, works', async () => {
    const schema = 'a'.repeat(63);
    expect(await migrate(db.pool, { schema })).toMatchObject({ schema, applied: allIds });
  });

  test.each([
    ['', /^Invalid Auditrum schema name "": it must not be empty$/],
    ['a'.repeat(64), /^Invalid Auditrum schema name "a{64}": it is 64 bytes long/],
    ['é'.repeat(32), /^Invalid Auditrum schema name "é{32}": it is 64 bytes long/],
  ])('%j is rejected with a clear error before touching the database', async (schema, message) => {
    // An ended pool throws on first use, so only validation can produce this error.
    const endedPool = new pg.Pool({ connectionString: db.url });
    await endedPool.end();
    await expect(migrate(endedPool, { schema })).rejects.toThrow(message);
  });
});
