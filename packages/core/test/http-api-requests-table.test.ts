import { ensurePartitions } from '@auditrum/core';
import { useTestDatabase } from '@auditrum/test-kit';
import { describe, expect, it } from 'vitest';

const db = useTestDatabase();

function monthName(table: string, offset: number): string {
  const now = new Date();
  const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1));
  return `${table}_p${month.getUTCFullYear()}_${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
}

async function partitionsOf(table: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = $1::regclass ORDER BY 1`,
    [`auditrum.${table}`],
  );
  return rows.map((row) => row.name);
}

describe('the API-request log table (migration 2)', () => {
  it('is partitioned by month like the change log, kept ahead by ensurePartitions', async () => {
    expect(await partitionsOf('api_requests')).toEqual([
      'api_requests_default',
      ...[0, 1, 2, 3].map((i) => monthName('api_requests', i)),
    ]);
    // ensure_partitions() still returns the change log's partitions only, as in version 1.
    expect(await ensurePartitions(db.pool, 'auditrum', 4)).toEqual([monthName('changes', 4)]);
    expect(await partitionsOf('api_requests')).toContain(monthName('api_requests', 4));
    const { rows } = await db.pool.query<{ created: string[] }>(
      'SELECT auditrum.ensure_api_request_partitions(5) AS created',
    );
    expect(rows[0]?.created).toEqual([monthName('api_requests', 5)]);
  });

  it('moves rows that landed in the default partition into a new month', async () => {
    const target = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 9, 1, 0, 30));
    await db.pool.query(
      `INSERT INTO auditrum.api_requests (requested_at, request_id, method, path, duration_ms)
       VALUES ($1, 'late-1', 'GET', '/x', 1.5)`,
      [target],
    );
    const where = `SELECT tableoid::regclass::text AS part FROM auditrum.api_requests WHERE request_id = 'late-1'`;
    expect((await db.pool.query(where)).rows).toEqual([{ part: 'auditrum.api_requests_default' }]);
    await ensurePartitions(db.pool, 'auditrum', 9);
    expect((await db.pool.query(where)).rows).toEqual([{ part: `auditrum.${monthName('api_requests', 9)}` }]);
  });

  it('refuses a bad number of months', async () => {
    await expect(db.pool.query('SELECT auditrum.ensure_api_request_partitions(-1)')).rejects.toThrow(
      'months ahead must be between 0 and 120',
    );
  });
});
