import { createAuditrum } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// An INSERT's and a DELETE's whole-row image is built by to_jsonb(new.*) when every column is recorded as it is
// (cheaper than jsonb_build_object over the columns); the images must be exactly those of the general path.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;

const COLUMNS = `id int PRIMARY KEY, n numeric, f float8, b bool, ts timestamptz, d date, j jsonb, js json, arr int[],
  raw bytea, iv interval, p point, t text, vc varchar(5), g int GENERATED ALWAYS AS (id * 2) STORED, "new" text`;
const ROW = `(1, 'NaN', '-Infinity', true, '2024-01-01 10:00+02', '2024-02-03', '{"a": [1, {"b": null}]}',
  '{"x": 1, "x": 2}', '{1,NULL,3}', '\\x00ff', '1 day 02:00', '(1,2)', E'quote" \\\\ \\u0001', 'abc', DEFAULT, 'col')`;
const NAMES = ['id', 'n', 'f', 'b', 'ts', 'd', 'j', 'js', 'arr', 'raw', 'iv', 'p', 't', 'vc', 'g', 'new'];

async function captureFunction(table: string): Promise<string> {
  const { rows } = await db.pool.query<{ def: string }>(
    `SELECT pg_get_functiondef(format('auditrum.capture_%s', id)::regproc) AS def
     FROM auditrum.tracked_tables WHERE table_name = $1`,
    [table],
  );
  return rows[0]?.def ?? '';
}

async function images(table: string): Promise<unknown[]> {
  const { rows } = await db.pool.query<{ image: unknown }>(
    `SELECT coalesce(new_values, old_values) AS image FROM auditrum.change_log WHERE table_name = $1 ORDER BY id`,
    [table],
  );
  return rows.map((r) => r.image);
}

beforeAll(async () => {
  app = role.openPool({ max: 1 });
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  await app.query(`CREATE TABLE whole_row (${COLUMNS})`);
  await app.query(`CREATE TABLE by_column (${COLUMNS})`);
  await auditrum.track('public.whole_row');
  // An only rule naming every column records the same values through the general path.
  await auditrum.track('public.by_column', { only: NAMES });
});
afterAll(() => app.end());

describe('whole-row images', () => {
  it('are used when every column is recorded as it is, and not otherwise', async () => {
    expect(await captureFunction('whole_row')).toContain('to_jsonb(new.*)');
    expect(await captureFunction('whole_row')).toContain('to_jsonb(old.*)');
    expect(await captureFunction('by_column')).not.toContain('to_jsonb(new.*)');
  });

  it('record exactly what the general path records, for INSERT and DELETE', async () => {
    for (const table of ['whole_row', 'by_column']) {
      await app.query(`INSERT INTO ${table} VALUES ${ROW}`);
      await app.query(`DELETE FROM ${table}`);
    }
    const wholeRow = await images('whole_row');
    expect(wholeRow).toHaveLength(2);
    expect(wholeRow).toEqual(await images('by_column'));
    expect(wholeRow[0]).toMatchObject({ n: 'NaN', f: '-Infinity', ts: '2024-01-01T08:00:00+00:00', g: 2, new: 'col' });
  });

  it('are not used for a table with a mask, an excluded column or a user-defined type', async () => {
    const auditrum = createAuditrum({ pool: db.pool, partitions: false });
    await app.query(`CREATE TYPE mood AS ENUM ('ok', 'sad')`);
    await app.query('CREATE TABLE masked (id int PRIMARY KEY, secret text)');
    await app.query('CREATE TABLE excluded (id int PRIMARY KEY, big text)');
    await app.query('CREATE TABLE moods (id int PRIMARY KEY, m mood)');
    await auditrum.track('public.masked', { mask: ['secret'] });
    await auditrum.track('public.excluded', { exclude: ['big'] });
    await auditrum.track('public.moods');
    for (const table of ['masked', 'excluded', 'moods']) {
      expect(await captureFunction(table)).not.toContain('to_jsonb(new.*)');
    }
    // Dropping the enum column makes every column recorded as it is: ALTER TABLE regenerates the function.
    await app.query('ALTER TABLE moods DROP COLUMN m');
    expect(await captureFunction('moods')).toContain('to_jsonb(new.*)');
  });
});
