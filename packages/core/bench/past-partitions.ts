import type pg from 'pg';

/**
 * The monthly partitions of the change log (and the API log) for the past `days`, as ensure_partitions() would
 * have created them while those months were current: the benchmarks seed history spread over past months.
 */
export async function createPastPartitions(
  db: pg.Pool,
  days: number,
  logs: readonly { table: string; column: string }[] = [
    { table: 'changes', column: 'changed_at' },
    { table: 'api_requests', column: 'requested_at' },
  ],
): Promise<void> {
  for (const log of logs) {
    for (let back = Math.ceil(days / 30) + 1; back >= 1; back--) {
      const { rows } = await db.query<{ name: string; start: string; end: string }>(
        `SELECT $1 || '_p' || to_char(m, 'YYYY_MM') AS name, to_char(m, 'YYYY-MM-DD') AS start,
           to_char(m + interval '1 month', 'YYYY-MM-DD') AS end
         FROM (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => $2) AS m) s`,
        [log.table, back],
      );
      const { name, start, end } = rows[0] as { name: string; start: string; end: string };
      await db.query(
        `CREATE TABLE IF NOT EXISTS auditrum.${name} PARTITION OF auditrum.${log.table}
         FOR VALUES FROM ('${start} 00:00:00+00') TO ('${end} 00:00:00+00')`,
      );
    }
  }
}
