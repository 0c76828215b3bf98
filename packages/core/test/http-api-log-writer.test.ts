import type { ApiRequestRecord } from '@auditrum/core/http';
import { ApiLogWriter } from '@auditrum/core/http';
import { findPgBouncer, startPgBouncer, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import { JsonText } from '../src/http/api-request-record.js';

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
    expect(writer.stats()).toEqual({ queued: 0, written: 7, dropped: 0, failed: 0 });
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

  it('drops rows beyond maxRows, counting them and reporting once per overflow, and never throws', async () => {
    const errors: unknown[] = [];
    const writer = new ApiLogWriter(db.pool, 'auditrum', { maxRows: 5, batchSize: 100, flushIntervalMs: 60_000 }, (e) =>
      errors.push(e),
    );
    for (let i = 0; i < 12; i++) writer.push(record(`o${i}`));
    expect(writer.stats()).toEqual({ queued: 5, written: 0, dropped: 7, failed: 0 });
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toContain('API log queue is full (5 rows)');
    await writer.close();
    expect(await storedIds()).toEqual(['o0', 'o1', 'o2', 'o3', 'o4']);
    writer.push(record('after-close'));
    expect(writer.stats()).toMatchObject({ written: 5, dropped: 8 });
    expect(String(errors[1])).toContain('the logger is closed');
  });

  it('isolates a row the database refuses, keeping the rest of its batch', async () => {
    const errors: unknown[] = [];
    const writer = new ApiLogWriter(db.pool, 'auditrum', { batchSize: 10, flushIntervalMs: 60_000 }, (e) =>
      errors.push(e),
    );
    writer.push(record('good-1'));
    writer.push(record('bad', { status: 70000 })); // out of smallint range
    writer.push(record('good-2'));
    await writer.close();
    expect(await storedIds()).toEqual(['good-1', 'good-2']);
    expect(writer.stats()).toMatchObject({ written: 2, failed: 1 });
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toContain('out of range');
  });

  it('reports an unreachable database through onError, losing only the rows it could not write', async () => {
    const errors: unknown[] = [];
    const dead = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none', connectionTimeoutMillis: 2000 });
    const writer = new ApiLogWriter(dead, 'auditrum', { flushIntervalMs: 10 }, (e) => errors.push(e));
    writer.push(record('lost-1'));
    writer.push(record('lost-2'));
    await writer.close();
    await dead.end();
    expect(writer.stats()).toEqual({ queued: 0, written: 0, dropped: 0, failed: 2 });
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/ECONNREFUSED|connect/);
  });

  it.skipIf(!pgBouncer)(
    'writes its COPY batches through PgBouncer in transaction mode, a refused row included',
    async () => {
      const bouncer = await startPgBouncer({ upstreamUrl: db.url, poolMode: 'transaction', poolSize: 1 });
      const bounced = new pg.Pool({ connectionString: bouncer.url, max: 2 });
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
        expect(writer.stats()).toEqual({ queued: 0, written: 4, dropped: 0, failed: 1 });
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
    const role = `api_writer_${process.pid}_${Date.now()}`;
    await db.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD 'pw'`);
    await db.pool.query(`GRANT USAGE ON SCHEMA auditrum TO ${role}`);
    await db.pool.query(`GRANT INSERT ON auditrum.api_requests TO ${role}`);
    await db.pool.query(`GRANT USAGE ON SEQUENCE auditrum.api_requests_id_seq TO ${role}`);
    const url = new URL(db.url);
    url.username = role;
    url.password = 'pw';
    const appPool = new pg.Pool({ connectionString: url.toString(), max: 1 });
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
    expect(() => new ApiLogWriter(db.pool, 'auditrum', { maxRows: 0 }, () => undefined)).toThrow(
      'queue.maxRows must be a positive whole number',
    );
    expect(() => new ApiLogWriter(db.pool, 'auditrum', { batchSize: 1.5 }, () => undefined)).toThrow('queue.batchSize');
  });
});
