import { randomBytes } from 'node:crypto';
import { createAuditrum } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The capture function is created from SQL text that holds the table's and its columns' names. A name must not end
// the function's body and add SQL to the statement: the DDL follower regenerates the function with the schema
// owner's rights when a table's owner renames it, so that SQL would run as the schema owner.
const db = useTestDatabase();
const role = useAppRole(db);
const victim = `v_${randomBytes(3).toString('hex')}`;
let app: pg.Pool;

async function newValues(table: string): Promise<unknown[]> {
  const { rows } = await db.pool.query<{ new_values: unknown }>(
    `SELECT new_values FROM auditrum.change_log WHERE table_name = $1 AND operation <> 'DDL' ORDER BY id`,
    [table],
  );
  return rows.map((r) => r.new_values);
}

beforeAll(async () => {
  app = role.openPool({ max: 1 });
  await db.pool.query(`CREATE ROLE ${victim}`);
});
afterAll(async () => {
  await app.end();
  await db.pool.query(`DROP ROLE IF EXISTS ${victim}`);
});

describe('names in the generated capture function', () => {
  it('a table renamed to a name that closes the body runs none of it, and stays tracked', async () => {
    await app.query('CREATE TABLE plain (id int PRIMARY KEY, note text)');
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.plain');
    const name = `\nBEGIN END$auditrum$;DROP ROLE ${victim};SELECT $auditrum$`;
    expect(Buffer.byteLength(name)).toBeLessThan(64);
    await app.query(`ALTER TABLE plain RENAME TO ${pg.escapeIdentifier(name)}`);
    const { rows } = await db.pool.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [victim]);
    expect(rows).toHaveLength(1);
    await app.query(`INSERT INTO ${pg.escapeIdentifier(name)} VALUES (1, 'kept')`);
    await app.query(`UPDATE ${pg.escapeIdentifier(name)} SET note = 'changed' WHERE id = 1`);
    expect(await newValues(name)).toEqual([{ id: 1, note: 'kept' }, { note: 'changed' }]);
  });

  it('a column named like the body delimiter is recorded', async () => {
    await app.query('CREATE TABLE dollars (id int PRIMARY KEY, "$auditrum$" text, "$auditrum_$" text)');
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.dollars');
    await app.query(`INSERT INTO dollars VALUES (1, 'a', 'b')`);
    await app.query(`UPDATE dollars SET "$auditrum$" = 'c' WHERE id = 1`);
    expect(await newValues('dollars')).toEqual([{ id: 1, $auditrum$: 'a', $auditrum_$: 'b' }, { $auditrum$: 'c' }]);
  });
});
