import { erase, migrate, verify } from '@auditrum/core';
import { useEmptyDatabase } from '@auditrum/test-kit';
import { beforeAll, describe, expect, it } from 'vitest';
import { migrateUpTo } from './migrate-up-to.js';

// A row's key erased before schema version 35 (which tells an erasure's key pseudonym from a real key of the same
// text), a real row then given that key, and the upgrade: a second erasure names exactly one of them.
const db = useEmptyDatabase();
const KEY_PSEUDONYMS = 35;

async function versions(): Promise<unknown[]> {
  const { rows } = await db.pool.query(
    `SELECT row_key AS key, new_values->>'email' AS email, new_values->>'name' AS name FROM auditrum.changes
     ORDER BY id`,
  );
  return rows;
}

beforeAll(async () => {
  await migrateUpTo(db.pool, KEY_PSEUDONYMS);
  await db.pool.query('CREATE TABLE people (email text PRIMARY KEY, name text)');
  await db.pool.query(`SELECT auditrum.track('people')`);
  await db.pool.query(`INSERT INTO people VALUES ('alice@example.com', 'Alice')`);
  await db.pool.query('SELECT * FROM auditrum.seal()');
  // Version 33's erase(), in SQL: the erasure's id is 1, the row's key erased:1.
  const { rows } = await db.pool.query<{ erasure_id: string }>(
    `SELECT erasure_id::text FROM auditrum.erase('{"table": "public.people", "key": "alice@example.com",
       "columns": ["email"]}', 'ticket 1')`,
  );
  expect(rows).toEqual([{ erasure_id: '1' }]);
  await db.pool.query(`INSERT INTO people VALUES ('erased:1', 'Eve')`);
  await db.pool.query('SELECT * FROM auditrum.seal()');
  expect(await migrate(db.pool)).toMatchObject({ applied: expect.arrayContaining([KEY_PSEUDONYMS]) });
});

describe('a key erased before the upgrade', () => {
  it('is not erased again with the real row of its text, and is erased alone by its erasure', async () => {
    const real = await erase(db.pool, 'auditrum', {
      subject: { table: 'people', key: 'erased:1', columns: ['name'] },
      reason: 'ticket 2',
    });
    expect(real).toMatchObject({ erasureId: '2', changes: 1, sealed: 1, unmatched: 0 });
    expect(await versions()).toEqual([
      { key: 'erased:1', email: '[erased]', name: 'Alice' },
      { key: 'erased:1', email: 'erased:1', name: '[erased]' },
    ]);
    const erased = await erase(db.pool, 'auditrum', {
      subject: { table: 'people', keyErasure: '1', columns: ['name'] },
      reason: 'ticket 3',
    });
    expect(erased).toMatchObject({ erasureId: '3', changes: 1, sealed: 1, unmatched: 0 });
    expect(await versions()).toEqual([
      { key: 'erased:1', email: '[erased]', name: '[erased]' },
      { key: 'erased:1', email: 'erased:1', name: '[erased]' },
    ]);
    const verified = await verify(db.pool, 'auditrum');
    expect(verified.problems).toEqual([]);
    expect(verified.erased.map((e) => [e.changeId, e.erasureId])).toEqual([
      ['1', '3'],
      ['2', '2'],
    ]);
  });
});
