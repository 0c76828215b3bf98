import { createAuditrum } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// PostgreSQL 18's virtual generated columns are not stored, and a trigger's transition tables hold no value for them:
// a statement over the transition tables that named one failed ("unexpected virtual generated column reference"), so
// every write to a tracked table with one was refused. They are left out of what is recorded (the columns they are
// computed from are recorded); a stored generated column still is.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let serverVersion = 0;

beforeAll(async () => {
  app = role.openPool({ max: 1 });
  const { rows } = await db.pool.query<{ v: number }>(`SELECT current_setting('server_version_num')::int AS v`);
  serverVersion = rows[0]?.v ?? 0;
});
afterAll(() => app.end());

describe('a virtual generated column', () => {
  it('is left out of every change, whatever the path, and the table written as without tracking', async ({ skip }) => {
    if (serverVersion < 180000) skip();
    await app.query(`CREATE TABLE gauges (id int PRIMARY KEY, n int, twice int GENERATED ALWAYS AS (n * 2) VIRTUAL,
      label text GENERATED ALWAYS AS ('n=' || n) VIRTUAL, thrice int GENERATED ALWAYS AS (n * 3) STORED)`);
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.gauges', { mask: ['label'] });
    await app.query('INSERT INTO gauges (id, n) SELECT g, g FROM generate_series(1, 20) g');
    await app.query('UPDATE gauges SET n = 100 WHERE id = 1');
    await app.query('UPDATE gauges SET n = 200 WHERE id IN (2, 3)');
    await app.query('UPDATE gauges SET n = n + 1 WHERE id > 3');
    await app.query('DELETE FROM gauges WHERE id = 1');
    const { rows: live } = await app.query('SELECT twice, label, thrice FROM gauges WHERE id = 2');
    expect(live).toEqual([{ twice: 400, label: 'n=200', thrice: 600 }]);

    const { rows } = await db.pool.query(
      `SELECT operation, row_key, old_values, new_values FROM auditrum.change_log
       WHERE table_name = 'gauges' ORDER BY id`,
    );
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
    const update = (key: number, from: number, to: number) => ({
      operation: 'UPDATE',
      row_key: String(key),
      old_values: { n: from, thrice: from * 3 },
      new_values: { n: to, thrice: to * 3 },
    });
    expect(rows).toEqual([
      ...range(1, 20).map((k) => ({
        operation: 'INSERT',
        row_key: String(k),
        old_values: null,
        new_values: { id: k, n: k, thrice: k * 3 },
      })),
      update(1, 1, 100),
      update(2, 2, 200),
      update(3, 3, 200),
      ...range(4, 20).map((k) => update(k, k, k + 1)),
      { operation: 'DELETE', row_key: '1', old_values: { id: 1, n: 100, thrice: 300 }, new_values: null },
    ]);
  });

  it('in a when condition is refused by track(), naming it, and the table keeps being written', async ({ skip }) => {
    if (serverVersion < 180000) skip();
    await app.query(`CREATE TABLE dials (id int PRIMARY KEY, n int, twice int GENERATED ALWAYS AS (n * 2) VIRTUAL)`);
    const audit = createAuditrum({ pool: db.pool, partitions: false });
    await expect(audit.track('public.dials', { when: 'new.twice > 10' })).rejects.toThrow(
      'invalid "when" condition for table public.dials: column new.twice does not exist',
    );
    await app.query('INSERT INTO dials (id, n) VALUES (1, 1)');
    await audit.track('public.dials', { when: 'new.n * 2 > 10' });
    await app.query('INSERT INTO dials (id, n) VALUES (2, 2), (6, 6)');
    const { rows } = await db.pool.query(
      `SELECT row_key, new_values FROM auditrum.change_log WHERE table_name = 'dials' ORDER BY id`,
    );
    expect(rows).toEqual([{ row_key: '6', new_values: { id: 6, n: 6 } }]);
  });
});
