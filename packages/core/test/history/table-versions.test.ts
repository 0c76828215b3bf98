import { createAuditrum } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// History is read under today's column names: every state of a tracked table's columns is recorded with the
// change ids it covers, so a renamed column keeps its history and a dropped one is known as dropped.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;

interface ColumnName {
  version_id: string;
  after_change_id: string;
  until_change_id: string;
  tracking: boolean;
  stored_name: string;
  current_name: string | null;
  type: string;
  key: boolean;
  captured: boolean;
  masked: boolean;
}

async function columnNames(table: string): Promise<ColumnName[]> {
  const { rows } = await db.pool.query<ColumnName>(
    `SELECT n.version_id, n.after_change_id, n.until_change_id, n.tracking, n.stored_name, n.current_name, n.type, n.key,
       n.captured, n.masked
     FROM auditrum.column_names n JOIN auditrum.tracked_tables t ON t.id = n.table_id
     WHERE t.table_name = $1 ORDER BY n.after_change_id, n.version_id, n.attnum`,
    [table],
  );
  return rows;
}

async function lastChangeId(): Promise<string> {
  const { rows } = await db.pool.query<{ id: string }>('SELECT max(id)::text AS id FROM auditrum.changes');
  return rows[0]?.id ?? '0';
}

beforeAll(() => {
  app = role.openPool({ max: 2 });
});
afterAll(() => app.end());

describe('table versions', () => {
  it('records each state of the columns with the change ids it covers, under the names of today', async () => {
    await app.query('CREATE TABLE people (id int PRIMARY KEY, name text, email text, secret text, note text)');
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.people', {
      exclude: ['secret'],
      mask: ['email'],
    });
    await app.query(`INSERT INTO people VALUES (1, 'Ann', 'a@x.test', 's', 'n')`);
    const beforeRename = await lastChangeId();
    // As the table's owner (the application role): the DDL follower records the new state.
    await app.query('ALTER TABLE people RENAME COLUMN name TO full_name');
    await app.query('ALTER TABLE people DROP COLUMN note');
    await app.query(`UPDATE people SET full_name = 'Ann B' WHERE id = 1`);

    const names = await columnNames('people');
    const first = names.filter((n) => n.version_id === names[0]?.version_id);
    expect(first.map((n) => [n.stored_name, n.current_name, n.captured, n.masked, n.key])).toEqual([
      ['id', 'id', true, false, true],
      ['name', 'full_name', true, false, false],
      ['email', 'email', true, true, false],
      ['secret', 'secret', false, false, false],
      ['note', null, true, false, false],
    ]);
    expect(first[0]?.type).toBe('integer');
    const latest = names.at(-1);
    const latestFrom = latest?.after_change_id;
    expect(Number(latestFrom)).toBeGreaterThanOrEqual(Number(beforeRename));
    expect(names.filter((n) => n.version_id === latest?.version_id).map((n) => n.stored_name)).toEqual([
      'id',
      'full_name',
      'email',
      'secret',
    ]);
    // The first state covers the INSERT, the last one the UPDATE made after the DDL.
    const { rows } = await db.pool.query<{ operation: string; after_change_id: string }>(
      `SELECT c.operation, n.after_change_id FROM auditrum.changes c
       JOIN auditrum.column_names n ON n.table_id = c.table_id AND c.id > n.after_change_id
         AND c.id <= n.until_change_id AND n.attnum = 1
       JOIN auditrum.tracked_tables t ON t.id = c.table_id WHERE t.table_name = 'people' ORDER BY c.id`,
    );
    expect(rows).toEqual([
      { operation: 'INSERT', after_change_id: first[0]?.after_change_id },
      { operation: 'UPDATE', after_change_id: latestFrom },
    ]);
  });

  it('records untracking as a gap and a retyped column with its new type', async () => {
    await app.query('CREATE TABLE gaps (id int PRIMARY KEY, amount int)');
    const auditrum = createAuditrum({ pool: db.pool, partitions: false });
    // A state that covers no change is replaced by the next one: each step here follows a write.
    await auditrum.track('public.gaps');
    await app.query('INSERT INTO gaps VALUES (1, 1)');
    await auditrum.untrack('public.gaps');
    await app.query('UPDATE gaps SET amount = 2');
    await auditrum.track('public.gaps');
    await app.query('UPDATE gaps SET amount = 3');
    await app.query('ALTER TABLE gaps ALTER COLUMN amount TYPE numeric(12,2)');
    const names = (await columnNames('gaps')).filter((n) => n.stored_name === 'amount');
    expect(names.map((n) => [n.tracking, n.type, n.current_name])).toEqual([
      [true, 'integer', 'amount'],
      [false, 'integer', 'amount'],
      [true, 'integer', 'amount'],
      [true, 'numeric(12,2)', 'amount'],
    ]);
  });

  it('keeps the last known names of a dropped table', async () => {
    await app.query('CREATE TABLE gone (id int PRIMARY KEY, label text)');
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.gone');
    await app.query(`INSERT INTO gone VALUES (1, 'x')`);
    await app.query('DROP TABLE gone');
    const names = await columnNames('gone');
    expect(names.map((n) => [n.tracking, n.stored_name, n.current_name])).toEqual([
      [true, 'id', 'id'],
      [true, 'label', 'label'],
      [false, 'id', 'id'],
      [false, 'label', 'label'],
    ]);
  });
});
