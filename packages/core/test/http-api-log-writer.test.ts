import { randomBytes } from 'node:crypto';
import { HttpAudit } from '@auditrum/core/http';
import { findPgBouncer, startPgBouncer, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import { JsonText } from '../src/bodies/stored-json.js';
import { ApiLogWriter } from '../src/request-log/api-log-writer.js';
import type { ApiRequestRecord } from '../src/request-log/api-request-record.js';
import { recordValues } from '../src/request-log/api-request-record.js';
import { copyLine } from '../src/request-log/copy-text.js';
import { RETRY_MAX_DELAY_MS, retryDelay } from '../src/request-log/retry-delay.js';
import { writeFailure } from '../src/request-log/write-failure.js';

const db = useTestDatabase();
const pgBouncer = await findPgBouncer();

function record(requestId: string, overrides: Partial<ApiRequestRecord> = {}): ApiRequestRecord {
  return {
    requestedAt: new Date('2026-11-26T10:00:00.000Z'),
    requestId,
    method: 'POST',
    path: '/orders/7',
    route: '/orders/:id',
    query: { page: '2' },
    status: 201,
    durationMs: 12.5,
    aborted: false,
    actorId: '42',
    actorLabel: 'alice@example.com',
    ip: '10.0.0.1',
    userAgent: 'curl/8',
    requestHeaders: { 'content-type': 'application/json', authorization: '[masked]' },
    responseHeaders: { 'x-request-id': requestId },
    requestBody: { password: '[masked]', items: [1, 2] },
    responseBody: 'text "quoted" \\ and {braces}',
    error: null,
    ...overrides,
  };
}

async function storedIds(): Promise<string[]> {
  const { rows } = await db.pool.query<{ request_id: string }>(
    'SELECT request_id FROM auditrum.api_requests ORDER BY id',
  );
  return rows.map((row) => row.request_id);
}

describe('the API-log writer', () => {
  beforeEach(async () => {
    await db.pool.query('TRUNCATE auditrum.api_requests');
  });

  it('writes rows in batches, every column as given, and flushes what is queued on close()', async () => {
    const errors: unknown[] = [];
    const writer = new ApiLogWriter(db.pool, 'auditrum', { batchSize: 3, flushIntervalMs: 60_000 }, (e) =>
      errors.push(e),
    );
    for (let i = 0; i < 7; i++) writer.push(record(`r${i}`, i === 6 ? { requestBody: null, query: null } : {}));
    await writer.close();
    expect(writer.stats()).toMatchObject({ queued: 0, queuedBytes: 0, written: 7, dropped: 0, failed: 0, retries: 0 });
    expect(errors).toEqual([]);
    expect(await storedIds()).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
    const { rows } = await db.pool.query(
      `SELECT requested_at, request_id, method, path, route, query, status, duration_ms, aborted, actor_id, actor_label,
        ip, user_agent, request_headers, response_headers, request_body, response_body, error
       FROM auditrum.api_requests WHERE request_id IN ('r0', 'r6') ORDER BY id`,
    );
    expect(rows[0]).toEqual({
      requested_at: new Date('2026-11-26T10:00:00.000Z'),
      request_id: 'r0',
      method: 'POST',
      path: '/orders/7',
      route: '/orders/:id',
      query: { page: '2' },
      status: 201,
      duration_ms: 12.5,
      aborted: false,
      actor_id: '42',
      actor_label: 'alice@example.com',
      ip: '10.0.0.1',
      user_agent: 'curl/8',
      request_headers: { 'content-type': 'application/json', authorization: '[masked]' },
      response_headers: { 'x-request-id': 'r0' },
      request_body: { password: '[masked]', items: [1, 2] },
      response_body: 'text "quoted" \\ and {braces}',
      error: null,
    });
    expect(rows[1]).toMatchObject({ request_id: 'r6', query: null, request_body: null });
  });

  it('keeps text that COPY and array literals treat specially exactly as given', async () => {
    const writer = new ApiLogWriter(db.pool, 'auditrum', {}, () => undefined);
    const tricky = {
      actorId: '\\N',
      actorLabel: 'NULL',
      ip: 'tab\there\r\nand \\t',
      userAgent: '',
      route: '/a,b/{c}/"d"\\e',
      error: ' spaced \n line ',
      requestBody: { 'k"\\': ['{', '}', ',', 'NULL', '', '\\N', 'a\tb\nc\\'] },
      responseBody: 'ünïcödé ✓ 😀',
    };
    writer.push(record('tricky', tricky));
    await writer.close();
    const { rows } = await db.pool.query(
      `SELECT actor_id, actor_label, ip, user_agent, route, error, request_body, response_body FROM auditrum.api_requests`,
    );
    expect(rows).toEqual([
      {
        actor_id: '\\N',
        actor_label: 'NULL',
        ip: tricky.ip,
        user_agent: '',
        route: tricky.route,
        error: tricky.error,
        request_body: tricky.requestBody,
        response_body: tricky.responseBody,
      },
    ]);
  });

  it('stores a body kept as JSON text as that jsonb, raw line breaks and tabs included', async () => {
    await db.pool.query('TRUNCATE auditrum.api_requests');
    const writer = new ApiLogWriter(db.pool, 'auditrum', {}, () => undefined);
    const text = '{\n\t"n": 12345678901234567890123,\r\n "list": [1.50, "a b"]}';
    writer.push(record('verbatim', { requestBody: new JsonText(text), responseBody: new JsonText('[]') }));
    await writer.close();
    const { rows } = await db.pool.query(
      `SELECT request_body::text AS request, response_body::text AS response FROM auditrum.api_requests`,
    );
    expect(rows).toEqual([{ request: '{"n": 12345678901234567890123, "list": [1.50, "a b"]}', response: '[]' }]);
  });

  it('writes after the flush interval without close()', async () => {
    const writer = new ApiLogWriter(db.pool, 'auditrum', { flushIntervalMs: 20 }, () => undefined);
    writer.push(record('timed'));
    await expect.poll(storedIds).toEqual(['timed']);
    await writer.close();
  });

  it('drops rows beyond maxRows or maxBytes, counting them and reporting the count once, and never throws', async () => {
    const errors: unknown[] = [];
    const writer = new ApiLogWriter(
      db.pool,
      'auditrum',
      { maxRows: 5, batchSize: 100, flushIntervalMs: 60_000, reportIntervalMs: 60_000 },
      (e) => errors.push(e),
    );
    for (let i = 0; i < 12; i++) writer.push(record(`o${i}`));
    expect(writer.stats()).toMatchObject({ queued: 5, written: 0, dropped: 7, failed: 0 });
    // Counted now, reported once per interval (or at close), with the count.
    expect(errors).toEqual([]);
    await writer.close();
    expect(errors.map(String)).toEqual([
      expect.stringContaining('API log dropped 7 row(s): the queue was full (5 rows'),
    ]);
    expect(await storedIds()).toEqual(['o0', 'o1', 'o2', 'o3', 'o4']);
    writer.push(record('after-close'));
    expect(writer.stats()).toMatchObject({ written: 5, dropped: 8 });
    expect(String(errors[1])).toContain('the logger is closed');

    // The byte bound: rows of about 1 KB, room for exactly 3 of them.
    await db.pool.query('TRUNCATE auditrum.api_requests');
    const oneRow = Buffer.byteLength(copyLine(recordValues(record('b0', { error: 'x'.repeat(1000) }))));
    const bytes = new ApiLogWriter(
      db.pool,
      'auditrum',
      { maxBytes: oneRow * 3, flushIntervalMs: 60_000 },
      () => undefined,
    );
    for (let i = 0; i < 6; i++) bytes.push(record(`b${i}`, { error: 'x'.repeat(1000) }));
    const held = bytes.stats();
    expect(held).toMatchObject({ queued: 3, dropped: 3 });
    expect(held.queuedBytes).toBe(oneRow * 3);
    expect(held.peakQueuedBytes).toBe(held.queuedBytes);
    await bytes.close();
    expect(await storedIds()).toEqual(['b0', 'b1', 'b2']);
    expect(bytes.stats()).toMatchObject({ queued: 0, queuedBytes: 0, peakQueued: 3, written: 3 });
  });

  it('isolates the rows the database refuses, reporting each by request id, and keeps the rest of their batch', async () => {
    const errors: unknown[] = [];
    const writer = new ApiLogWriter(db.pool, 'auditrum', { batchSize: 50, flushIntervalMs: 60_000 }, (e) =>
      errors.push(e),
    );
    const bad = new Set([3, 17, 18, 40]);
    for (let i = 0; i < 45; i++) writer.push(record(`row-${i}`, bad.has(i) ? { status: 70000 } : {})); // smallint
    await writer.close();
    expect(await storedIds()).toEqual(
      Array.from({ length: 45 }, (_, i) => i)
        .filter((i) => !bad.has(i))
        .map((i) => `row-${i}`),
    );
    expect(writer.stats()).toMatchObject({ written: 41, failed: 4, dropped: 0, retries: 0 });
    expect(errors.map(String)).toEqual(
      [...bad].map((i) => `Error: auditrum: API log row refused by the database (request row-${i})`),
    );
    expect((errors[0] as Error).cause).toMatchObject({ code: '22003' });
  });

  it('keeps and retries rows the database cannot take for a reason not theirs (a missing grant), until it can', async () => {
    const role = `api_nogrant_${randomBytes(4).toString('hex')}`;
    await db.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD 'pw'`);
    await db.pool.query(`GRANT USAGE ON SCHEMA auditrum TO ${role}`);
    const url = new URL(db.url);
    url.username = role;
    url.password = 'pw';
    const appPool = new pg.Pool({ connectionString: url.toString(), max: 1 });
    appPool.on('error', () => undefined);
    const errors: unknown[] = [];
    try {
      const writer = new ApiLogWriter(appPool, 'auditrum', { flushIntervalMs: 10 }, (e) => errors.push(e));
      writer.push(record('waits-1'));
      writer.push(record('waits-2'));
      await expect.poll(() => writer.stats().retries).toBeGreaterThan(1);
      expect(writer.stats()).toMatchObject({ queued: 2, written: 0, failed: 0, dropped: 0 });
      expect(errors.map(String)).toEqual([
        expect.stringContaining('API log cannot reach the database; keeping 2 row(s) and retrying: permission denied'),
      ]);
      await db.pool.query(`GRANT INSERT ON auditrum.api_requests TO ${role}`);
      await db.pool.query(`GRANT USAGE ON SEQUENCE auditrum.api_requests_id_seq TO ${role}`);
      await writer.close();
      expect(await storedIds()).toEqual(['waits-1', 'waits-2']);
      expect(writer.stats()).toMatchObject({ queued: 0, written: 2, failed: 0, dropped: 0 });
    } finally {
      await appPool.end();
      await db.pool.query(`DROP OWNED BY ${role}`);
      await db.pool.query(`DROP ROLE ${role}`);
    }
  });

  it('keeps and retries rows no partition takes (the default one detached), instead of losing each as refused', async () => {
    const errors: unknown[] = [];
    const writer = new ApiLogWriter(db.pool, 'auditrum', { flushIntervalMs: 10 }, (e) => errors.push(e));
    await db.pool.query('ALTER TABLE auditrum.api_requests DETACH PARTITION auditrum.api_requests_default');
    try {
      // requested_at 2026-11-26: no monthly partition in this database, so only the default one could take them.
      writer.push(record('no-partition-1'));
      writer.push(record('no-partition-2'));
      // Before, each row was refused (23514) and lost, reported one by one as the rows' fault.
      await expect.poll(() => writer.stats().retries).toBeGreaterThan(1);
      expect(writer.stats()).toMatchObject({ queued: 2, written: 0, failed: 0, dropped: 0 });
      expect(errors.map(String)).toEqual([
        expect.stringContaining('API log cannot reach the database; keeping 2 row(s) and retrying: no partition'),
      ]);
    } finally {
      await db.pool.query('ALTER TABLE auditrum.api_requests ATTACH PARTITION auditrum.api_requests_default DEFAULT');
    }
    await writer.close();
    expect(await storedIds()).toEqual(['no-partition-1', 'no-partition-2']);
    expect(writer.stats()).toMatchObject({ queued: 0, written: 2, failed: 0, dropped: 0 });
  });

  it.skipIf(!pgBouncer)(
    'writes its COPY batches through PgBouncer in transaction mode, a refused row included',
    async () => {
      const bouncer = await startPgBouncer({ upstreamUrl: db.url, poolMode: 'transaction', poolSize: 1 });
      const bounced = db.openPool({ connectionString: bouncer.url, max: 2 });
      const errors: unknown[] = [];
      try {
        const writer = new ApiLogWriter(bounced, 'auditrum', { batchSize: 2, flushIntervalMs: 10 }, (e) =>
          errors.push(e),
        );
        for (const id of ['pb-1', 'pb-2', 'pb-3']) writer.push(record(id));
        writer.push(record('pb-bad', { status: 70000 }));
        writer.push(record('pb-4'));
        await writer.close();
        expect(await storedIds()).toEqual(['pb-1', 'pb-2', 'pb-3', 'pb-4']);
        expect(writer.stats()).toMatchObject({ queued: 0, written: 4, dropped: 0, failed: 1 });
        expect(errors).toHaveLength(1);
        // The refused COPY left the shared server connection usable.
        expect((await bounced.query<{ n: number }>('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
      } finally {
        await bounced.end();
        await bouncer.stop();
      }
    },
  );

  it('writes with an application role that has only the grants the docs list', async () => {
    const role = `api_writer_${randomBytes(4).toString('hex')}`;
    await db.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD 'pw'`);
    await db.pool.query(`GRANT USAGE ON SCHEMA auditrum TO ${role}`);
    await db.pool.query(`GRANT INSERT ON auditrum.api_requests TO ${role}`);
    await db.pool.query(`GRANT USAGE ON SEQUENCE auditrum.api_requests_id_seq TO ${role}`);
    const url = new URL(db.url);
    url.username = role;
    url.password = 'pw';
    const appPool = db.openPool({ connectionString: url.toString(), max: 1 });
    const errors: unknown[] = [];
    try {
      const writer = new ApiLogWriter(appPool, 'auditrum', {}, (e) => errors.push(e));
      writer.push(record('as-app-role'));
      await writer.close();
      expect(errors).toEqual([]);
      expect(await storedIds()).toEqual(['as-app-role']);
      await expect(appPool.query('SELECT * FROM auditrum.api_requests')).rejects.toThrow('permission denied');
    } finally {
      await appPool.end();
      await db.pool.query(`DROP OWNED BY ${role}`);
      await db.pool.query(`DROP ROLE ${role}`);
    }
  });

  it('refuses bad queue settings at construction', () => {
    const make = (queue: Record<string, unknown>) => () =>
      new ApiLogWriter(db.pool, 'auditrum', queue, () => undefined);
    expect(make({ maxRows: 0 })).toThrow('queue.maxRows must be a positive whole number, not 0');
    expect(make({ batchSize: 1.5 })).toThrow('queue.batchSize');
    expect(make({ maxBytes: -1 })).toThrow('queue.maxBytes must be a positive whole number, not -1');
    expect(make({ reportIntervalMs: Number.NaN })).toThrow('queue.reportIntervalMs');
    expect(make({ closeTimeoutMs: '5' })).toThrow('queue.closeTimeoutMs must be a positive whole number, not 5');
    const options = { pool: db.pool, queue: { maxByte: 1 } as never };
    expect(() => new HttpAudit(options, 'apiLogger', { context: false, log: true }, () => undefined)).toThrow(
      'option "queue" has no "maxByte"; known: maxRows, maxBytes, batchSize, flushIntervalMs, reportIntervalMs, closeTimeoutMs',
    );
  });
});

describe('retry delays', () => {
  it('grow exponentially from the first delay to the cap, with half of each step random', () => {
    const low = [1, 2, 3, 4, 5, 6, 20].map((attempt) => retryDelay(attempt, () => 0));
    const high = [1, 2, 3, 4, 5, 6, 20].map((attempt) => retryDelay(attempt, () => 1));
    expect(low).toEqual([50, 100, 200, 400, 800, 1000, 1000]);
    expect(high).toEqual([100, 200, 400, 800, 1600, 2000, 2000]);
    expect(retryDelay(1000, () => 0.5)).toBe(RETRY_MAX_DELAY_MS * 0.75);
  });
});

describe('write failures', () => {
  it("are the rows' fault only for data, integrity and size errors; the rest is kept and retried", async () => {
    const failure = (sql: string) => db.pool.query(sql).then(() => undefined, writeFailure);
    expect(await failure("SELECT 'x'::int")).toBe('refused');
    expect(await failure('SELECT 70000::smallint')).toBe('refused');
    expect(await failure('SELECT * FROM no_such_table')).toBe('unavailable');
    // No partition for the row (23514, an integrity class): the table's set-up, not the row, is at fault.
    await db.pool.query('CREATE TEMP TABLE ranged (at date) PARTITION BY RANGE (at)');
    expect(await failure("INSERT INTO ranged VALUES ('2026-01-01')")).toBe('unavailable');
    expect(await failure('CREATE TEMP TABLE checked (n int CHECK (n > 0)); INSERT INTO checked VALUES (0)')).toBe(
      'refused',
    );
    expect(writeFailure(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(
      'unavailable',
    );
  });
});
