import { createAuditrum } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// auditrum.row_key(table, key) gives the row_key capture recorded, from a key as people and programs write it.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;

async function rowKey(table: string, key: unknown): Promise<string> {
  // As a role that reads the audit schema (the admin's or the CLI's).
  const { rows } = await db.pool.query<{ key: string }>('SELECT auditrum.row_key($1::regclass, $2::jsonb) AS key', [
    table,
    JSON.stringify(key),
  ]);
  return rows[0]?.key ?? '';
}

async function recordedKeys(table: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ row_key: string }>(
    'SELECT row_key FROM auditrum.change_log WHERE table_name = $1 ORDER BY id',
    [table],
  );
  return rows.map((r) => r.row_key);
}

beforeAll(async () => {
  app = role.openPool({ max: 1 });
  await app.query('CREATE TABLE people (id int PRIMARY KEY, name text)');
  await app.query('CREATE TABLE pairs (a text, b date, v int, PRIMARY KEY (a, b))');
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  await auditrum.track('public.people');
  await auditrum.track('public.pairs');
  await app.query(`INSERT INTO people VALUES (7, 'Ann')`);
  await app.query(`INSERT INTO pairs VALUES ('x''y', '2024-01-02', 1)`);
});
afterAll(() => app.end());

describe('row_key', () => {
  it('finds the recorded key from a number, a string, an array or an object', async () => {
    const [person] = await recordedKeys('people');
    for (const key of [7, '7', '007', [7], { id: 7 }]) expect(await rowKey('people', key)).toBe(person);
    const [pair] = await recordedKeys('pairs');
    expect(pair).toBe('["x\'y", "2024-01-02"]');
    expect(await rowKey('pairs', ["x'y", '2024-01-02'])).toBe(pair);
    expect(await rowKey('pairs', { b: '2024-01-02', a: "x'y" })).toBe(pair);
  });

  it.each([
    ['people', 'abc', '"abc" is not a valid integer for key column id of table public.people'],
    ['people', [1, 2], 'the key of table public.people is (id): give 1 value(s), not [1, 2]'],
    ['people', null, 'give the key of a row of table public.people (id)'],
    ['people', { id: { nested: 1 } }, 'the key of table public.people is (id)'],
    ['pairs', { a: 'x', c: 1 }, 'the key of table public.pairs is (a, b): give 2 value(s)'],
    ['pairs', ['x', 'not a date'], '"not a date" is not a valid date for key column b of table public.pairs'],
    ['people', "1'); DROP TABLE people; --", 'is not a valid integer'],
  ])('%s: refuses key %j with a clear error', async (table, key, message) => {
    await expect(rowKey(table, key)).rejects.toThrow(message);
    expect(await recordedKeys('people')).toHaveLength(1);
  });

  it('refuses a table that is not tracked', async () => {
    await app.query('CREATE TABLE loose (id int PRIMARY KEY)');
    await expect(rowKey('loose', 1)).rejects.toThrow('table public.loose is not tracked');
  });
});
