import { createAuditrum } from '@auditrum/core';
import type { HistoryResponse } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRead } from './admin-read.js';

// A row's history page folds the row's changes from its first, a batch of 1,000 at a time, its own changes and the
// table's TRUNCATEs each read in id order on the row index. A row changed more times than a batch holds, with a
// TRUNCATE of its table (and the row inserted again) between, and another row's changes interleaved: every page,
// newest and oldest and one through a change in the middle, numbers its versions and gives each the row's state, as
// the log says. Read as a non-superuser role that owns the table and may read the log.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;

function history(query: Record<string, string>): Promise<HistoryResponse> {
  return adminRead(app, 'api/history', { table: 'public.counters', key: '1', ...query });
}

/** The row's changes and the table's TRUNCATEs, oldest first, as the log holds them. */
async function logged(): Promise<{ id: string; operation: string }[]> {
  const { rows } = await db.pool.query<{ id: string; operation: string }>(
    `SELECT c.id::text AS id, c.operation FROM auditrum.changes c
     WHERE c.table_id = (SELECT id FROM auditrum.tracked_tables WHERE table_name = 'counters')
       AND (c.row_key = '1' OR c.operation = 'TRUNCATE') ORDER BY c.id`,
  );
  return rows;
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  await grantLogReads(db, role);
  await app.query('CREATE TABLE counters (id int PRIMARY KEY, n int)');
  await createAuditrum({ pool: db.pool, partitions: false }).track('public.counters');
  await app.query('INSERT INTO counters VALUES (1, 0), (2, 0)');
  await app.query(`DO $$ BEGIN FOR i IN 1..1200 LOOP
      UPDATE counters SET n = i WHERE id = 1;
      IF i % 100 = 0 THEN UPDATE counters SET n = i WHERE id = 2; END IF;
    END LOOP; END $$`);
  await app.query('TRUNCATE counters');
  await app.query('INSERT INTO counters VALUES (1, 5000)');
  await app.query(`DO $$ BEGIN FOR i IN 5001..6300 LOOP UPDATE counters SET n = i WHERE id = 1; END LOOP; END $$`);
});

afterAll(async () => {
  await app?.end();
});

describe('api/history of a row changed more times than a batch holds', () => {
  it('numbers every version and gives each the state the log says, on every page', async () => {
    const changes = await logged();
    // INSERT, 1,200 UPDATEs, the TRUNCATE, INSERT, 1,300 UPDATEs.
    expect(changes).toHaveLength(2503);
    expect(changes[1201]?.operation).toBe('TRUNCATE');
    const newest = await history({ limit: '3' });
    expect(newest.firstNumber).toBe(2501);
    expect(newest.versions.map((v) => [v.change.id, v.state, v.complete])).toEqual([
      [changes[2500]?.id, { id: 1, n: 6298 }, true],
      [changes[2501]?.id, { id: 1, n: 6299 }, true],
      [changes[2502]?.id, { id: 1, n: 6300 }, true],
    ]);
    expect(newest.nextCursor).not.toBeNull();
    const oldest = await history({ limit: '2', through: changes[1]?.id as string });
    expect([oldest.firstNumber, oldest.versions.map((v) => [v.change.id, v.state])]).toEqual([
      1,
      [
        [changes[0]?.id, { id: 1, n: 0 }],
        [changes[1]?.id, { id: 1, n: 1 }],
      ],
    ]);
    // Around the TRUNCATE, past the first batch: the row gone, then inserted again.
    const middle = await history({ limit: '3', through: changes[1202]?.id as string });
    expect([middle.firstNumber, middle.versions.map((v) => [v.change.operation, v.state])]).toEqual([
      1201,
      [
        ['UPDATE', { id: 1, n: 1200 }],
        ['TRUNCATE', null],
        ['INSERT', { id: 1, n: 5000 }],
      ],
    ]);
  });
});
