import { createAuditrum, ensurePartitions, startPartitionMaintenance } from '@auditrum/core';
import { useTestDatabase } from '@auditrum/test-kit';
import { describe, expect, it } from 'vitest';

const db = useTestDatabase();

function monthName(offset: number): string {
  const now = new Date();
  const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1));
  return `changes_p${month.getUTCFullYear()}_${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
}

async function partitionNames(): Promise<string[]> {
  const { rows } = await db.pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'auditrum.changes'::regclass ORDER BY 1`,
  );
  return rows.map((row) => row.name);
}

describe('partitions', () => {
  it('are created ahead by migrate, with a default partition, and by ensurePartitions, idempotently', async () => {
    expect(await partitionNames()).toEqual(['changes_default', ...[0, 1, 2, 3].map(monthName)]);
    expect(await ensurePartitions(db.pool, 'auditrum', 5)).toEqual([monthName(4), monthName(5)]);
    expect(await ensurePartitions(db.pool, 'auditrum', 5)).toEqual([]);
  });

  it('take over rows that landed in the default partition, whatever the session time zone', async () => {
    const client = await db.pool.connect();
    try {
      await client.query(`SET TIME ZONE 'Asia/Tokyo'`);
      // 00:30 on the 1st in Tokyo is still the previous month in UTC: it must land in the UTC month.
      const target = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 8, 1, 0, 30));
      await client.query(`INSERT INTO auditrum.changes (changed_at, table_id, operation) VALUES ($1, 0, 'INSERT')`, [
        target,
      ]);
      const before = await client.query(
        `SELECT tableoid::regclass::text AS part FROM auditrum.changes WHERE table_id = 0`,
      );
      expect(before.rows).toEqual([{ part: 'auditrum.changes_default' }]);
      await ensurePartitions(client, 'auditrum', 8);
      const after = await client.query(
        `SELECT tableoid::regclass::text AS part FROM auditrum.changes WHERE table_id = 0`,
      );
      expect(after.rows).toEqual([{ part: `auditrum.${monthName(8)}` }]);
      const bounds = await client.query(
        `SET TIME ZONE 'UTC'; SELECT pg_get_expr(relpartbound, oid) AS bounds FROM pg_class WHERE relname = '${monthName(8)}'`,
      );
      const start = `${target.getUTCFullYear()}-${String(target.getUTCMonth() + 1).padStart(2, '0')}-01 00:00:00+00`;
      expect((bounds as unknown as { rows: { bounds: string }[] }[])[1]?.rows[0]?.bounds).toContain(
        `FROM ('${start}')`,
      );
    } finally {
      await client.query('RESET TIME ZONE');
      client.release();
    }
  });

  it('are kept ahead by the running app, and bad settings are refused', async () => {
    const maintenance = startPartitionMaintenance(db.pool, 'auditrum', { monthsAhead: 10, intervalMs: 60_000 });
    await maintenance.ready;
    maintenance.stop();
    expect(await partitionNames()).toContain(monthName(10));
    await expect(ensurePartitions(db.pool, 'auditrum', -1)).rejects.toThrow(
      'months ahead must be a whole number from 0 to 120',
    );
    expect(() => startPartitionMaintenance(db.pool, 'auditrum', { intervalMs: 5 })).toThrow('at least 1000 ms');
    // Once every 30 days: a Node timer cannot wait that long, and ran it every millisecond instead.
    expect(() => startPartitionMaintenance(db.pool, 'auditrum', { intervalMs: 30 * 86_400_000 })).toThrow(
      'partition check interval must be at most 2147483647 ms (about 24.8 days, the longest a timer keeps), not 2592000000',
    );
    const audit = createAuditrum({ pool: db.pool, partitions: { monthsAhead: 11, intervalMs: 60_000 } });
    await audit.migrate();
    await audit.close();
    // migrate() started maintenance: wait for its first run through a query that queues behind it.
    await expect.poll(partitionNames).toContain(monthName(11));
  });
});
