import { createAuditrum } from '@auditrum/core';
import type { ActorResponse } from '@auditrum/core/admin';
import { ACTOR_COUNT_EXACT_UP_TO } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import { beforeAll, describe, expect, it } from 'vitest';
import { adminRead } from './admin-read.js';

// An actor busier than the summary counts one by one (an import user): its counts are the planner's estimates, said
// to be; anyone else's are exact. Read as a non-superuser role granted the log's reads, as the admin's pool is.
const db = useTestDatabase();
const reader = useAppRole(db);
const BUSY = ACTOR_COUNT_EXACT_UP_TO + 50_000;

beforeAll(async () => {
  await db.pool.query('CREATE TABLE items (id int PRIMARY KEY)');
  await createAuditrum({ pool: db.pool }).track('public.items');
  const { rows } = await db.pool.query<{ id: string }>(
    `SELECT id::text FROM auditrum.tracked_tables WHERE relid = 'public.items'::regclass`,
  );
  // Written as the capture writes them, straight into the log (the bench's seeding): the import user's changes and
  // calls, then a few of someone else's.
  await db.pool.query(
    `INSERT INTO auditrum.changes (changed_at, txid, table_id, operation, row_key, new_values, actor_id, context)
     SELECT now() - (n || ' ms')::interval, 1000 + n / 1000, $1, 'INSERT', jsonb_build_object('id', n),
       jsonb_build_object('id', n), CASE WHEN n <= $2 THEN 'import' ELSE 'alice' END,
       jsonb_build_object('source', 'job')
     FROM generate_series(1, $2 + 7) n`,
    [rows[0]?.id, BUSY],
  );
  await db.pool.query(
    `INSERT INTO auditrum.api_requests (requested_at, request_id, method, path, status, duration_ms, actor_id)
     SELECT now(), 'r-' || n, 'POST', '/items', 201, 1, CASE WHEN n <= $1 THEN 'import' ELSE 'alice' END
     FROM generate_series(1, $1 + 3) n`,
    [BUSY],
  );
  await db.pool.query('ANALYZE auditrum.changes; ANALYZE auditrum.api_requests');
  await grantLogReads(db, reader);
});

async function actor(id: string): Promise<ActorResponse> {
  return adminRead<ActorResponse>(reader.openPool({ max: 2 }), `api/actors/${id}`, {});
}

describe('an actor summary', () => {
  it('estimates the counts of an actor past the bound, from the statistics, and says so', async () => {
    const summary = await actor('import');
    expect(summary).toMatchObject({ changeCountEstimated: true, requestCountEstimated: true });
    // Its share of each log is among the statistics' most common values: the estimate is close.
    for (const count of [summary.changeCount, summary.requestCount]) {
      expect(count).toBeGreaterThan(ACTOR_COUNT_EXACT_UP_TO);
      expect(Math.abs(count - BUSY) / BUSY).toBeLessThan(0.1);
    }
  });

  it('counts an actor below the bound exactly', async () => {
    expect(await actor('alice')).toMatchObject({
      changeCount: 7,
      changeCountEstimated: false,
      requestCount: 3,
      requestCountEstimated: false,
    });
  });
});
