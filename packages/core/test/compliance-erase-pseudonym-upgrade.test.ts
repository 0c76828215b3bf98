import { erase, migrate, verify } from '@auditrum/core';
import type { ApiRequestSummary, Change } from '@auditrum/core/admin';
import { useEmptyDatabase } from '@auditrum/test-kit';
import { beforeAll, describe, expect, it } from 'vitest';
import { adminRead } from './admin-read.js';
import { migrateUpTo } from './migrate-up-to.js';

// An erasure made before schema version 33 (which records the API-log rows an erasure masks, and tells an erased
// actor's pseudonym from a real actor of the same id), then the upgrade: the erasure still reads as erased and
// verifies, and the real actor named as its pseudonym is read, and erased, apart.
const db = useEmptyDatabase();
const PSEUDONYM_RECORDS = 33;

async function insertChange(actorId: string, key: number): Promise<void> {
  await db.pool.query(
    `INSERT INTO auditrum.changes (table_id, operation, row_key, old_values, new_values, actor_id, request_id, context)
     VALUES (1, 'INSERT', $2, NULL, jsonb_build_object('email', $1 || '@example.com'), $1, 'req-' || $2,
       jsonb_build_object('source', 'http', 'ip', '192.0.2.1', 'actor_label', $1))`,
    [actorId, String(key)],
  );
}

async function insertApiRequest(actorId: string, requestId: string, ip: string | null): Promise<void> {
  await db.pool.query(
    `INSERT INTO auditrum.api_requests (requested_at, request_id, method, path, status, duration_ms, actor_id, ip)
     VALUES (now(), $2, 'GET', '/', 200, 1, $1, $3)`,
    [actorId, requestId, ip],
  );
}

async function changesOf(actorId: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ key: string }>(
    'SELECT row_key AS key FROM auditrum.changes WHERE actor_id = $1 ORDER BY id',
    [actorId],
  );
  return rows.map((row) => row.key);
}

beforeAll(async () => {
  await migrateUpTo(db.pool, PSEUDONYM_RECORDS);
  await insertChange('user-1', 1);
  await insertChange('user-1', 2);
  await insertApiRequest('user-1', 'req-user-1', '192.0.2.1');
  // A call of the erased actor with nothing erase() replaces: NULL stays NULL.
  await insertApiRequest('user-1', 'req-user-1-bare', null);
  await db.pool.query('SELECT * FROM auditrum.seal()');
  // Version 12's erase(), in SQL: the erasure's id is 1, its pseudonym erased:1.
  const { rows } = await db.pool.query<{ erasure_id: string }>(
    `SELECT erasure_id::text FROM auditrum.erase('{"actor_id": "user-1"}', 'ticket 1')`,
  );
  expect(rows).toEqual([{ erasure_id: '1' }]);
  // Then a real actor the application names erased:1.
  await insertChange('erased:1', 3);
  await insertApiRequest('erased:1', 'req-lookalike', '198.51.100.9');
  await db.pool.query('SELECT * FROM auditrum.seal()');
  expect(await migrate(db.pool)).toMatchObject({ applied: expect.arrayContaining([PSEUDONYM_RECORDS]) });
});

describe('an actor erased before the upgrade', () => {
  it('still verifies, its rows reported erased', async () => {
    const verified = await verify(db.pool, 'auditrum');
    expect(verified.problems).toEqual([]);
    expect(verified.erased.map((e) => [e.changeId, e.erasureId])).toEqual([
      ['1', '1'],
      ['2', '1'],
    ]);
  });

  it('has its API-log rows recorded as masked by its erasure, and not the real actor’s', async () => {
    const { rows } = await db.pool.query(
      `SELECT e.erasure_id::text AS erasure, r.request_id FROM auditrum.erased_api_requests e
       JOIN auditrum.api_requests r ON r.id = e.api_request_id ORDER BY r.id`,
    );
    expect(rows).toEqual([
      { erasure: '1', request_id: 'req-user-1' },
      { erasure: '1', request_id: 'req-user-1-bare' },
    ]);
  });

  it('reads as erased, apart from the real actor of the same id', async () => {
    const changes = async (query: Record<string, string>) =>
      (await adminRead<{ items: Change[] }>(db.pool, 'api/changes', query)).items.map((c) => [c.rowKey, c.actor]);
    expect(await changes({ actor: 'erased:1' })).toEqual([['3', { id: 'erased:1', label: 'erased:1' }]]);
    expect(await changes({ erasure: '1' })).toEqual([
      ['2', { id: 'erased:1', label: '[erased]', erasure: '1' }],
      ['1', { id: 'erased:1', label: '[erased]', erasure: '1' }],
    ]);
    const requests = async (query: Record<string, string>) =>
      (await adminRead<{ items: ApiRequestSummary[] }>(db.pool, 'api/requests', query)).items.map((r) => r.requestId);
    expect(await requests({ actor: 'erased:1' })).toEqual(['req-lookalike']);
    expect(await requests({ erasure: '1' })).toEqual(['req-user-1-bare', 'req-user-1']);
  });

  it('is not erased again with the real actor, whose erasure verifies too', async () => {
    const result = await erase(db.pool, 'auditrum', { subject: { actorId: 'erased:1' }, reason: 'ticket 2' });
    expect(result).toMatchObject({ erasureId: '2', changes: 1, apiRequests: 1, sealed: 1, unmatched: 0 });
    expect(await changesOf('erased:1')).toEqual(['1', '2']);
    expect(await changesOf('erased:2')).toEqual(['3']);
    const verified = await verify(db.pool, 'auditrum');
    expect(verified.problems).toEqual([]);
    expect(verified.erased.map((e) => [e.changeId, e.erasureId])).toEqual([
      ['1', '1'],
      ['2', '1'],
      ['3', '2'],
    ]);
  });
});
