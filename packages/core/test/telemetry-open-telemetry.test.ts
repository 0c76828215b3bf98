import { createAuditrum, withAuditContext } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_FORMATS } from '../src/export/export-format.js';
import { runExport } from '../src/export/run-export.js';
import { startPartitionMaintenance } from '../src/partitions/partition-maintainer.js';
import { ApiLogWriter } from '../src/request-log/api-log-writer.js';
import { apiRequestRecord } from './api-request-fixture.js';
import { waitForHorizon } from './export-horizon.js';

const db = useTestDatabase();
const app = useAppRole(db);
const exporter = new InMemorySpanExporter();
const tracer = trace.getTracer('shop');

interface Traced {
  actor_id: string | null;
  context: Record<string, unknown>;
}

describe('OpenTelemetry, when the host uses it', () => {
  let pool: pg.Pool;
  beforeAll(async () => {
    new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).register();
    pool = app.openPool({ max: 2 });
    await pool.query('CREATE TABLE carts (id int PRIMARY KEY, items int NOT NULL DEFAULT 0)');
    await pool.query('INSERT INTO carts SELECT g FROM generate_series(1, 10) g');
    await createAuditrum({ pool: db.pool, partitions: false }).track('carts');
    createAuditrum({ pool, partitions: false });
  });
  afterAll(async () => {
    await pool?.end();
    // The provider and context manager live on a global: later test files in this process must not inherit them.
    trace.disable();
    context.disable();
  });

  async function changesOf(id: number): Promise<Traced[]> {
    const { rows } = await db.pool.query<Traced>(
      `SELECT actor_id, context FROM auditrum.change_log WHERE table_name = 'carts' AND row_key = $1 ORDER BY id`,
      [String(id)],
    );
    return rows;
  }

  it('records the trace and span each statement was sent in, following the span within one audit scope', async () => {
    const spans: { traceId: string; spanId: string }[] = [];
    await withAuditContext({ actor: { id: '7' }, source: 'http' }, async () => {
      for (const items of [1, 2]) {
        await tracer.startActiveSpan(`add item ${items}`, async (span) => {
          spans.push(span.spanContext());
          await pool.query('UPDATE carts SET items = $1 WHERE id = 1', [items]);
          span.end();
        });
      }
      // Outside any span: the same scope's comment without trace ids.
      await pool.query('UPDATE carts SET items = 3 WHERE id = 1');
    });
    expect(spans[0]?.spanId).not.toBe(spans[1]?.spanId);
    expect(await changesOf(1)).toEqual([
      { actor_id: '7', context: { source: 'http', trace_id: spans[0]?.traceId, span_id: spans[0]?.spanId } },
      { actor_id: '7', context: { source: 'http', trace_id: spans[1]?.traceId, span_id: spans[1]?.spanId } },
      { actor_id: '7', context: { source: 'http' } },
    ]);
  });

  it('puts no trace ids on a statement sent outside any audit scope, even inside a span', async () => {
    await tracer.startActiveSpan('cron tick', async (span) => {
      await pool.query('UPDATE carts SET items = 9 WHERE id = 2');
      span.end();
    });
    const [change] = await changesOf(2);
    expect(change?.actor_id).toBeNull();
    expect(change?.context.source).toBe('db');
    expect(change?.context).not.toHaveProperty('trace_id');
  });

  it('makes a span of each API-log write and each partition check, failed ones marked as errors', async () => {
    exporter.reset();
    const writer = new ApiLogWriter(db.pool, 'auditrum', { flushIntervalMs: 10 }, () => {});
    writer.push(apiRequestRecord('req-otel'));
    await writer.close();
    const maintenance = startPartitionMaintenance(db.pool, 'auditrum', { onError: () => {} });
    await maintenance.ready;
    maintenance.stop();
    const failing = startPartitionMaintenance(db.pool, 'no_such_schema', { onError: () => {} });
    await failing.ready;
    failing.stop();
    const finished = exporter.getFinishedSpans().map((span) => ({
      name: span.name,
      attributes: span.attributes,
      status: span.status.code,
    }));
    expect(finished).toEqual([
      { name: 'auditrum.api_log.write', attributes: { 'auditrum.rows': 1 }, status: 0 },
      { name: 'auditrum.partitions.ensure', attributes: { 'auditrum.months_ahead': 3 }, status: 0 },
      { name: 'auditrum.partitions.ensure', attributes: { 'auditrum.months_ahead': 3 }, status: 2 },
    ]);
  });

  it('makes a span of each batch the live export delivers', async () => {
    await waitForHorizon(db.pool);
    exporter.reset();
    await runExport(db.pool, 'auditrum', {
      logs: ['changes'],
      format: EXPORT_FORMATS.ndjson,
      sink: { deliveredThrough: async () => undefined, deliver: async () => {}, close: async () => {} },
    });
    const delivered = exporter.getFinishedSpans().filter((span) => span.name === 'auditrum.export.deliver');
    expect(delivered.map((span) => span.attributes)).toEqual([{ 'auditrum.records': 4 }]);
  });
});
