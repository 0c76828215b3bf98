import type * as PromClient from 'prom-client';
import type { ApiLogStats } from '../request-log/api-log-writer.js';
import { optionalPeer } from './optional-peer.js';

/**
 * Prometheus metrics through prom-client when the host has it (an optional peer dependency), registered in its
 * default registry, which the adapters' `auditMetrics()` handlers serve (and so does any /metrics the host already
 * has). Without prom-client every function here returns at once.
 */
const client = optionalPeer<typeof PromClient>('prom-client');

// The API-log writers alive in this process, read at each scrape (their counts are kept by the writers anyway).
const writers = new Set<WeakRef<{ stats(): ApiLogStats }>>();

/** What the metrics read of the API log: its writers' counts, summed. */
type ApiLogTotals = Pick<ApiLogStats, 'queued' | 'written' | 'dropped' | 'failed'>;

function totals(): ApiLogTotals {
  const sum: ApiLogTotals = { queued: 0, written: 0, dropped: 0, failed: 0 };
  for (const ref of writers) {
    const writer = ref.deref();
    if (writer === undefined) {
      writers.delete(ref);
      continue;
    }
    const stats = writer.stats();
    for (const key of Object.keys(sum) as (keyof ApiLogTotals)[]) sum[key] += stats[key];
  }
  return sum;
}

/** One metric of the registry, made once per process (a second copy of the library finds it registered). */
function metric<M>(name: string, make: (prom: typeof PromClient) => M): M | undefined {
  if (client === undefined) return undefined;
  return (client.register.getSingleMetric(name) as M | undefined) ?? make(client);
}

const apiLogQueue = metric(
  'auditrum_api_log_queued_rows',
  (prom) =>
    new prom.Gauge({
      name: 'auditrum_api_log_queued_rows',
      help: 'API-log rows waiting in memory to be written',
      collect() {
        this.set(totals().queued);
      },
    }),
);
const apiLogRows = metric(
  'auditrum_api_log_rows_total',
  (prom) =>
    new prom.Counter({
      name: 'auditrum_api_log_rows_total',
      help: 'API-log rows by outcome: written, dropped (queue full or closed) or failed (refused by the database)',
      labelNames: ['outcome'] as const,
      collect() {
        const sum = totals();
        this.reset();
        this.inc({ outcome: 'written' }, sum.written);
        this.inc({ outcome: 'dropped' }, sum.dropped);
        this.inc({ outcome: 'failed' }, sum.failed);
      },
    }),
);
const apiLogWrite = metric(
  'auditrum_api_log_write_seconds',
  (prom) =>
    new prom.Histogram({
      name: 'auditrum_api_log_write_seconds',
      help: 'Time to write one batch of API-log rows (COPY), by outcome',
      labelNames: ['outcome'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    }),
);
const partitionChecks = metric(
  'auditrum_partition_checks_total',
  (prom) =>
    new prom.Counter({
      name: 'auditrum_partition_checks_total',
      help: 'Partition maintenance runs, by outcome (ok or failed)',
      labelNames: ['outcome'] as const,
    }),
);

const exportRecords = metric(
  'auditrum_export_records_total',
  (prom) =>
    new prom.Counter({
      name: 'auditrum_export_records_total',
      help: 'Records the live export delivered to its sink',
    }),
);
const exportLag = metric(
  'auditrum_export_lag_seconds',
  (prom) =>
    new prom.Gauge({
      name: 'auditrum_export_lag_seconds',
      help: 'Age of the newest record the live export delivered, when it was delivered',
    }),
);

/** A batch the live export delivered, and the time of its newest record (ms since the epoch). */
export function observeExportDelivered(records: number, newestRecordMs: number): void {
  exportRecords?.inc(records);
  if (Number.isFinite(newestRecordMs)) exportLag?.set(Math.max(0, (Date.now() - newestRecordMs) / 1000));
}

const sealRuns = metric(
  'auditrum_seal_runs_total',
  (prom) =>
    new prom.Counter({
      name: 'auditrum_seal_runs_total',
      help: "The library's seal runs, by outcome (ok or failed)",
      labelNames: ['outcome'] as const,
    }),
);
const sealedRows = metric(
  'auditrum_sealed_rows_total',
  (prom) =>
    new prom.Counter({
      name: 'auditrum_sealed_rows_total',
      help: "Change rows the library's seal runs appended to the chain",
    }),
);

/** One seal run of the library's maintenance, and the rows it sealed. */
export function countSealRun(ok: boolean, rows: number): void {
  sealRuns?.inc({ outcome: ok ? 'ok' : 'failed' });
  if (rows > 0) sealedRows?.inc(rows);
}

/** Makes a writer's counts part of the metrics (queue depth, rows written, dropped and failed). */
export function watchApiLogWriter(writer: { stats(): ApiLogStats }): void {
  if (apiLogQueue !== undefined && apiLogRows !== undefined) writers.add(new WeakRef(writer));
}

/** One batch of the API log written (or not), and how long it took. */
export function observeApiLogWrite(seconds: number, ok: boolean): void {
  apiLogWrite?.observe({ outcome: ok ? 'ok' : 'failed' }, seconds);
}

/** One partition maintenance run. */
export function countPartitionCheck(ok: boolean): void {
  partitionChecks?.inc({ outcome: ok ? 'ok' : 'failed' });
}

/** The default registry's metrics as Prometheus text, for a /metrics route; refused without prom-client. */
export async function prometheusMetrics(): Promise<{ contentType: string; body: string }> {
  if (client === undefined) {
    throw new Error('auditrum: auditMetrics() needs prom-client (npm install prom-client)');
  }
  return { contentType: client.register.contentType, body: await client.register.metrics() };
}

/** Whether prom-client is installed: adapters refuse to mount auditMetrics() without it, when the app starts. */
export function hasPrometheus(): boolean {
  return client !== undefined;
}
