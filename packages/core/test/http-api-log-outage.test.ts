import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpAudit } from '@auditrum/core/http';
import type { Cluster } from '@auditrum/test-kit';
import { startCluster } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/index.js';
import { ApiLogWriter } from '../src/request-log/api-log-writer.js';
import type { ApiRequestRecord } from '../src/request-log/api-request-record.js';

// A cluster of its own, stopped and started by the tests: Debian's PostgreSQL binaries, or PG_BINDIR.
const debianRoot = '/usr/lib/postgresql';
const binDir =
  process.env.PG_BINDIR ??
  (existsSync(debianRoot) ? readdirSync(debianRoot).map((version) => join(debianRoot, version, 'bin'))[0] : undefined);
const haveBinaries = binDir !== undefined && existsSync(join(binDir, 'pg_ctl'));

function record(requestId: string): ApiRequestRecord {
  return {
    requestedAt: new Date(),
    requestId,
    method: 'POST',
    path: '/orders/7',
    route: '/orders/:id',
    query: null,
    status: 201,
    durationMs: 1.5,
    aborted: false,
    actorId: '42',
    actorLabel: null,
    ip: '10.0.0.1',
    userAgent: 'test',
    requestHeaders: { 'content-type': 'application/json' },
    responseHeaders: null,
    requestBody: { items: [1, 2, 3] },
    responseBody: null,
    error: null,
  };
}

describe.skipIf(!haveBinaries)('the API log through a database outage (a real cluster, stopped and started)', () => {
  let cluster: Cluster;
  let admin: pg.Pool;
  let appPool: pg.Pool;
  let appUrl: string;
  const role = `api_outage_${randomBytes(4).toString('hex')}`;
  // Idle connections the stopped server closes are 'error' events on the pools.
  const poolErrors: unknown[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ binDir: binDir as string });
    admin = new pg.Pool({ connectionString: cluster.adminUrl, max: 1 });
    admin.on('error', (error) => poolErrors.push(error));
    await migrate(admin);
    // The application role with only the grants the docs list for the API log.
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    await admin.query(`GRANT USAGE ON SCHEMA auditrum TO ${role}`);
    await admin.query(`GRANT INSERT ON auditrum.api_requests TO ${role}`);
    await admin.query(`GRANT USAGE ON SEQUENCE auditrum.api_requests_id_seq TO ${role}`);
    const url = new URL(cluster.adminUrl);
    url.username = role;
    appUrl = url.toString();
    appPool = new pg.Pool({ connectionString: appUrl, max: 2 });
    appPool.on('error', (error) => poolErrors.push(error));
  }, 60_000);

  afterAll(async () => {
    await appPool?.end();
    await admin?.end();
    await cluster?.stop();
  });

  async function storedIds(prefix: string): Promise<string[]> {
    const { rows } = await admin.query<{ request_id: string }>(
      'SELECT request_id FROM auditrum.api_requests WHERE starts_with(request_id, $1) ORDER BY id',
      [prefix],
    );
    return rows.map((row) => row.request_id);
  }

  /** A plain Node server that logs every request with `audit`, as an adapter would. */
  async function serveLogged(audit: HttpAudit<IncomingMessage>): Promise<{ base: string; close(): Promise<void> }> {
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      // As behind a proxy the app trusts: the load's ids are the rows' keys.
      const requestId = audit.requestId(req.headers['x-request-id'], undefined, true);
      const facts = { requestId, method: req.method ?? 'GET', url: req.url ?? '/', ip: undefined, userAgent: 'load' };
      audit.log({ req, res, hostReq: req, facts, outcome: { route: () => '/load/:n', error: () => undefined } });
      res.setHeader('content-type', 'application/json');
      res.end('{"ok":true}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      },
    };
  }

  it('loses no row of a 10 s outage at 500 requests/s, and stays within the queue bounds', async () => {
    const bounds = { maxRows: 10_000, maxBytes: 8 * 1024 * 1024 };
    const errors: unknown[] = [];
    const reportedAt: number[] = [];
    const audit = new HttpAudit<IncomingMessage>(
      {
        pool: appPool,
        queue: { ...bounds, flushIntervalMs: 50, reportIntervalMs: 2000, closeTimeoutMs: 60_000 },
        onError: (error) => {
          errors.push(error);
          reportedAt.push(Date.now());
        },
      },
      'test',
      { context: false, log: true },
      () => undefined,
    );
    const { base, close: closeServer } = await serveLogged(audit);

    const perTick = 5; // every 10 ms: 500 requests/s
    const ticksBefore = 200; // 2 s of load before the outage, 3 s after it
    const outageMs = 10_000;
    const sent: string[] = [];
    const answers: Promise<number>[] = [];
    let peakRows = 0;
    let peakBytes = 0;
    let outage: Promise<void> | undefined;
    let restarted = false;
    let restartedAtTick = Number.POSITIVE_INFINITY;
    const started = performance.now();
    try {
      for (let tick = 0; tick < restartedAtTick + 300; tick++) {
        if (tick === ticksBefore) {
          outage = cluster.stopServer().then(async () => {
            await sleep(outageMs);
            await cluster.startServer();
            restarted = true;
          });
        }
        if (restarted && restartedAtTick === Number.POSITIVE_INFINITY) restartedAtTick = tick;
        for (let i = 0; i < perTick; i++) {
          const id = `outage-${tick}-${i}`;
          sent.push(id);
          answers.push(fetch(`${base}/load/${tick}?i=${i}`, { headers: { 'x-request-id': id } }).then((r) => r.status));
        }
        const stats = audit.stats();
        peakRows = Math.max(peakRows, stats.queued);
        peakBytes = Math.max(peakBytes, stats.queuedBytes);
        const next = started + (tick + 1) * 10;
        await sleep(Math.max(0, next - performance.now()));
      }
      await outage;
      expect(new Set(await Promise.all(answers))).toEqual(new Set([200]));
      await audit.close();
    } finally {
      await closeServer();
    }
    const stats = audit.stats();
    const stored = await storedIds('outage-');
    const missing = sent.filter((id) => !stored.includes(id));
    const reports = errors.map(String);
    console.info(
      `outage: ${sent.length} requests sent, ${stored.length} rows written, ${missing.length} lost; ` +
        `peak queue ${stats.peakQueued} rows / ${stats.peakQueuedBytes} bytes (sampled ${peakRows} / ${peakBytes}) ` +
        `of ${bounds.maxRows} rows / ${bounds.maxBytes} bytes; ${stats.retries} retries; ` +
        `${errors.length} onError call(s): ${reports.join(' | ')}`,
    );
    expect(missing).toEqual([]);
    expect(stored.toSorted()).toEqual(sent.toSorted());
    expect(stats).toMatchObject({ queued: 0, queuedBytes: 0, written: sent.length, dropped: 0, failed: 0 });
    // The outage did queue rows (it was real), within the bounds.
    expect(stats.peakQueued).toBeGreaterThan(1000);
    expect(stats.peakQueued).toBeLessThanOrEqual(bounds.maxRows);
    expect(stats.peakQueuedBytes).toBeLessThanOrEqual(bounds.maxBytes);
    expect(peakBytes).toBeLessThanOrEqual(bounds.maxBytes);
    // Reported, not per row or batch: the outage's start, then at most once per report interval.
    expect(reports[0]).toContain('API log cannot reach the database; keeping');
    expect(reports.slice(1).every((report) => report.includes('still cannot reach the database'))).toBe(true);
    expect(reportedAt.slice(1).filter((at, i) => at - (reportedAt[i] as number) < 2000)).toEqual([]);
    expect(errors.length).toBeLessThan(stats.retries);
  }, 120_000);

  it('drops only rows past the bound during a long outage and reports their count once per interval', async () => {
    const errors: unknown[] = [];
    const writer = new ApiLogWriter(
      appPool,
      'auditrum',
      { maxRows: 100, batchSize: 20, flushIntervalMs: 10, reportIntervalMs: 300 },
      (error) => errors.push(error),
    );
    await cluster.stopServer();
    try {
      for (let i = 0; i < 250; i++) writer.push(record(`long-${i}`));
      expect(writer.stats()).toMatchObject({ queued: 100, dropped: 150, written: 0 });
      const dropReports = () => errors.map(String).filter((e) => e.includes('API log dropped'));
      await expect.poll(dropReports, { timeout: 5000 }).toHaveLength(1);
      expect(dropReports()[0]).toContain('dropped 150 row(s): the queue was full (100 rows');
      for (let i = 250; i < 280; i++) writer.push(record(`long-${i}`));
      await expect.poll(dropReports, { timeout: 5000 }).toHaveLength(2);
      expect(dropReports()[1]).toContain('dropped 30 row(s)');
      expect(writer.stats()).toMatchObject({ queued: 100, dropped: 180, written: 0, failed: 0 });
      expect(writer.stats().retries).toBeGreaterThan(0);
    } finally {
      await cluster.startServer();
    }
    await writer.close();
    expect(await storedIds('long-')).toEqual(Array.from({ length: 100 }, (_, i) => `long-${i}`));
    expect(writer.stats()).toMatchObject({ queued: 0, written: 100, dropped: 180, failed: 0 });
    // Two drop reports in all: none per row, none per batch.
    expect(errors.map(String).filter((e) => e.includes('API log dropped'))).toHaveLength(2);
  }, 60_000);

  it('close() during an outage gives up after closeTimeoutMs and reports what it could not write', async () => {
    const errors: unknown[] = [];
    const writer = new ApiLogWriter(appPool, 'auditrum', { flushIntervalMs: 10, closeTimeoutMs: 500 }, (error) =>
      errors.push(error),
    );
    await cluster.stopServer();
    try {
      for (let i = 0; i < 10; i++) writer.push(record(`closing-${i}`));
      await writer.close();
      expect(writer.stats()).toMatchObject({ queued: 0, queuedBytes: 0, written: 0, dropped: 10, failed: 0 });
      expect(errors.map(String)).toContainEqual(
        expect.stringContaining(
          'API log closed with 10 row(s) not written: the database could not be reached within 500 ms',
        ),
      );
      writer.push(record('closing-late'));
      expect(writer.stats().dropped).toBe(11);
    } finally {
      await cluster.startServer();
    }
    // Nothing is written later behind the caller's back.
    await sleep(300);
    expect(await storedIds('closing-')).toEqual([]);
  }, 60_000);

  it('survives the server closing the idle connections of a pool it made itself (DATABASE_URL)', async () => {
    const errors: unknown[] = [];
    const audit = new HttpAudit<IncomingMessage>(
      {
        connectionString: appUrl,
        queue: { flushIntervalMs: 10, closeTimeoutMs: 30_000 },
        onError: (e) => errors.push(e),
      },
      'test',
      { context: false, log: true },
      () => undefined,
    );
    const server = await serveLogged(audit);
    try {
      await fetch(`${server.base}/own/1`, { headers: { 'x-request-id': 'own-pool-1' } });
      await expect.poll(() => storedIds('own-pool-')).toEqual(['own-pool-1']);
      // The written batch left an idle connection in the pool: stopping the server ends it with an 'error' event,
      // which would end the process if nobody listened.
      await cluster.stopServer();
      await expect
        .poll(() => errors.map(String))
        .toContainEqual(expect.stringContaining('terminating connection due to administrator command'));
      await fetch(`${server.base}/own/2`, { headers: { 'x-request-id': 'own-pool-2' } });
      await cluster.startServer();
      await audit.close();
    } finally {
      await server.close();
      await cluster.startServer();
    }
    expect(await storedIds('own-pool-')).toEqual(['own-pool-1', 'own-pool-2']);
    expect(audit.stats()).toMatchObject({ written: 2, dropped: 0, failed: 0 });
  }, 60_000);
});
