import { createAuditrum } from '@auditrum/core';
import { useTestDatabase } from '@auditrum/test-kit';
import { register } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { EXPORT_FORMATS } from '../src/export/export-format.js';
import { runExport } from '../src/export/run-export.js';
import { metricsEndpoint } from '../src/http/metrics-endpoint.js';
import { startPartitionMaintenance } from '../src/partitions/partition-maintainer.js';
import { ApiLogWriter } from '../src/request-log/api-log-writer.js';
import { apiRequestRecord } from './api-request-fixture.js';
import { waitForHorizon } from './export-horizon.js';

const db = useTestDatabase();

/** Each labelled value of a metric, as a scrape reads it (the registry is the process's: compare before and after). */
async function values(name: string): Promise<Record<string, number>> {
  const metric = register.getSingleMetric(name);
  if (!metric) throw new Error(`${name} is not registered`);
  const out: Record<string, number> = {};
  for (const value of (await metric.get()).values) {
    // A histogram's values name their series (_bucket, _sum, _count); a counter's and a gauge's do not.
    const series = (value as { metricName?: string }).metricName ?? name;
    out[`${series}${JSON.stringify(value.labels)}`] = value.value;
  }
  return out;
}

function delta(after: Record<string, number>, before: Record<string, number>, key: string): number {
  return (after[key] ?? 0) - (before[key] ?? 0);
}

describe('Prometheus metrics through prom-client', () => {
  it("counts the API log's rows by outcome, its queue and its write times, and partition checks by outcome", async () => {
    const rowsBefore = await values('auditrum_api_log_rows_total');
    const writesBefore = await values('auditrum_api_log_write_seconds');
    const checksBefore = await values('auditrum_partition_checks_total');

    const writer = new ApiLogWriter(db.pool, 'auditrum', { flushIntervalMs: 60_000 }, () => {});
    writer.push(apiRequestRecord('m-1'));
    writer.push(apiRequestRecord('m-2'));
    expect(await values('auditrum_api_log_queued_rows')).toMatchObject({ 'auditrum_api_log_queued_rows{}': 2 });
    await writer.close();
    writer.push(apiRequestRecord('m-3')); // closed: dropped
    const ok = startPartitionMaintenance(db.pool, 'auditrum', { onError: () => {} });
    await ok.ready;
    ok.stop();
    const failing = startPartitionMaintenance(db.pool, 'no_such_schema', { onError: () => {} });
    await failing.ready;
    failing.stop();

    const rows = await values('auditrum_api_log_rows_total');
    expect(delta(rows, rowsBefore, 'auditrum_api_log_rows_total{"outcome":"written"}')).toBe(2);
    expect(delta(rows, rowsBefore, 'auditrum_api_log_rows_total{"outcome":"dropped"}')).toBe(1);
    expect(delta(rows, rowsBefore, 'auditrum_api_log_rows_total{"outcome":"failed"}')).toBe(0);
    const writes = await values('auditrum_api_log_write_seconds');
    expect(delta(writes, writesBefore, 'auditrum_api_log_write_seconds_count{"outcome":"ok"}')).toBe(1);
    const checks = await values('auditrum_partition_checks_total');
    expect(delta(checks, checksBefore, 'auditrum_partition_checks_total{"outcome":"ok"}')).toBe(1);
    expect(delta(checks, checksBefore, 'auditrum_partition_checks_total{"outcome":"failed"}')).toBe(1);
  });

  it('counts the records the live export delivered and how old the newest was', async () => {
    await db.pool.query('CREATE TABLE coupons (id int PRIMARY KEY, code text NOT NULL)');
    await createAuditrum({ pool: db.pool, partitions: false }).track('coupons');
    await db.pool.query("INSERT INTO coupons VALUES (1, 'A'), (2, 'B'), (3, 'C')");
    await waitForHorizon(db.pool);
    const before = await values('auditrum_export_records_total');
    const delivered: number[] = [];
    await runExport(db.pool, 'auditrum', {
      logs: ['changes'],
      format: EXPORT_FORMATS.ndjson,
      batchRows: 2,
      sink: {
        deliveredThrough: async () => undefined,
        deliver: async (batch) => {
          delivered.push(batch.count);
        },
        close: async () => {},
      },
    });
    expect(delivered).toEqual([2, 1]);
    const after = await values('auditrum_export_records_total');
    expect(delta(after, before, 'auditrum_export_records_total{}')).toBe(3);
    const lag = (await values('auditrum_export_lag_seconds'))['auditrum_export_lag_seconds{}'];
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(600);
  });

  it("serves the default registry in Prometheus' text format, the host's metrics beside Auditrum's", async () => {
    const { Counter } = await import('prom-client');
    const hostCounter = new Counter({ name: 'shop_orders_total', help: 'orders' });
    hostCounter.inc(3);
    try {
      const { contentType, body } = await metricsEndpoint('auditMetrics')();
      expect(contentType).toBe(register.contentType);
      expect(body).toContain('# TYPE auditrum_api_log_rows_total counter');
      expect(body).toContain('# TYPE auditrum_api_log_write_seconds histogram');
      expect(body).toContain('shop_orders_total 3');
    } finally {
      register.removeSingleMetric('shop_orders_total');
    }
  });
});
