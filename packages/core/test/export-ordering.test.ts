import type { ChangeExportRecord, ExportCursor, ExportRecord } from '@auditrum/core';
import { createAuditrum, ExportInputError, exportLogs, harden } from '@auditrum/core';
import { useAdminRole, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cefLine } from '../src/export/cef.js';
import { ndjsonLine } from '../src/export/ndjson.js';
import { ApiLogWriter } from '../src/request-log/api-log-writer.js';
import type { ApiRequestRecord } from '../src/request-log/api-request-record.js';
import { waitForHorizon } from './export-horizon.js';

// The two-role set-up of harden: the application role writes a tracked table and the API log; the export runs as
// the admin role, which owns the schema (and may read the id sequences).
const db = useTestDatabase();
const role = useAppRole(db);
const adminRole = useAdminRole(db);
let app: pg.Pool;
let admin: pg.Pool;

function request(requestId: string): ApiRequestRecord {
  return {
    requestedAt: new Date(),
    requestId,
    method: 'POST',
    path: '/orders',
    route: '/orders',
    query: null,
    status: 201,
    durationMs: 3,
    aborted: false,
    actorId: 'alice',
    actorLabel: null,
    ip: '10.0.0.1',
    userAgent: null,
    requestHeaders: null,
    responseHeaders: null,
    requestBody: null,
    responseBody: null,
    error: null,
  };
}

/**
 * Runs one export (not following) from `cursor`, storing the cursor at each checkpoint; returns records and cursor.
 * Unless `now` is false, first waits for what ended so far to be below the horizon (see waitForHorizon).
 */
async function exportOnce(
  cursor?: ExportCursor,
  { now = false }: { now?: boolean } = {},
): Promise<{ records: ExportRecord[]; cursor: ExportCursor }> {
  if (!now) await waitForHorizon(db.pool);
  let stored = cursor;
  const records: ExportRecord[] = [];
  const run = exportLogs(admin, 'auditrum', {
    cursor,
    checkpoint: async (c) => {
      stored = c;
    },
  });
  for await (const record of run) records.push(record);
  return { records, cursor: stored as ExportCursor };
}

const keys = (records: ExportRecord[]) =>
  records.map((r) => (r.log === 'changes' ? `${r.operation} ${r.row_key}` : `request ${r.request_id}`));

beforeAll(async () => {
  app = role.openPool({ max: 4 });
  admin = adminRole.openPool({ max: 2 });
  await app.query('CREATE TABLE orders (id int PRIMARY KEY, status text)');
  await db.pool.query(`SELECT auditrum.track('orders')`);
  await harden(db.pool, 'auditrum', { appRole: role.name, adminRole: adminRole.name });
});

afterAll(async () => {
  await Promise.all([app, admin].map((pool) => pool.end()));
});

describe('export order', () => {
  let cursor: ExportCursor;

  it('exports every row of ended transactions, changes then API-log rows, with their contents', async () => {
    await app.query(`INSERT INTO orders VALUES (1, 'new')`);
    await app.query(`UPDATE orders SET status = 'paid' WHERE id = 1`);
    const writer = new ApiLogWriter(app, 'auditrum', { batchSize: 10, flushIntervalMs: 60_000 }, () => undefined);
    writer.push(request('req-1'));
    writer.push(request('req-2'));
    await writer.close();
    const first = await exportOnce();
    expect(keys(first.records)).toEqual(['INSERT 1', 'UPDATE 1', 'request req-1', 'request req-2']);
    expect(first.records.map((r) => r.position)).toEqual(['1:0', '1:1', '1:2', '1:3']);
    expect(first.records[1]).toMatchObject({
      log: 'changes',
      schema: 'public',
      table: 'orders',
      operation: 'UPDATE',
      old_values: { status: 'new' },
      new_values: { status: 'paid' },
    });
    expect(first.records[2]).toMatchObject({ log: 'requests', method: 'POST', status: 201, actor_id: 'alice' });
    expect(first.records[2]?.txid).toMatch(/^\d+$/);
    // Records copy their JSON columns' text into NDJSON unparsed: the same line as from the parsed record, and CEF too.
    for (const record of first.records) {
      const plain = JSON.parse(JSON.stringify(record));
      expect(Object.keys(plain)).toContain(record.log === 'changes' ? 'new_values' : 'request_headers');
      expect(JSON.parse(ndjsonLine(record))).toEqual(plain);
      expect(cefLine(record)).toBe(cefLine(plain));
    }
    // A value changed in place (masked by the consumer) is what gets written.
    const update = first.records[1] as ChangeExportRecord;
    (update.new_values as Record<string, unknown>).status = '[masked]';
    expect(JSON.parse(ndjsonLine(update)).new_values).toEqual({ status: '[masked]' });
    update.old_values = null;
    expect(JSON.parse(ndjsonLine(update)).old_values).toBeNull();
    cursor = first.cursor;
    expect(cursor).toMatchObject({ step: 1, delivered: 4 });
    // Nothing new: nothing again.
    const again = await exportOnce(cursor);
    expect(again.records).toEqual([]);
    cursor = again.cursor;
  });

  it('a transaction that began first and commits last is exported once, after it commits, and nothing is skipped', async () => {
    const early = await app.connect();
    try {
      await early.query('BEGIN');
      await early.query(`INSERT INTO orders VALUES (10, 'early')`);
      await early.query(
        `INSERT INTO auditrum.api_requests (requested_at, request_id, method, path, duration_ms) VALUES (now(), 'req-early', 'GET', '/', 1)`,
      );
      // Later rows, committed while the early transaction is open: their ids are larger.
      await app.query(`INSERT INTO orders VALUES (11, 'late')`);
      await app.query(
        `INSERT INTO auditrum.api_requests (requested_at, request_id, method, path, duration_ms) VALUES (now(), 'req-late', 'GET', '/', 1)`,
      );
      // The open transaction holds the horizon: nothing committed behind it is exported yet (else the early rows,
      // with smaller ids, would come after a cursor that had passed them).
      const held = await exportOnce(cursor, { now: true });
      expect(held.records).toEqual([]);
      cursor = held.cursor;
      await early.query('COMMIT');
    } finally {
      early.release();
    }
    const after = await exportOnce(cursor);
    expect(keys(after.records)).toEqual(['INSERT 10', 'INSERT 11', 'request req-early', 'request req-late']);
    cursor = after.cursor;
    expect((await exportOnce(cursor)).records).toEqual([]);
  });

  it('a long transaction that commits after several steps: every row once, across steps', async () => {
    const seen: string[] = [];
    const early = await app.connect();
    try {
      await early.query('BEGIN');
      await early.query(`INSERT INTO orders VALUES (20, 'early')`);
      for (let i = 21; i < 24; i++) {
        // Another transaction ends between steps, so the steps' marks move on while the early one is open.
        await app.query(`INSERT INTO orders VALUES ($1, 'between')`, [i]);
        const step = await exportOnce(cursor, { now: true });
        seen.push(...keys(step.records));
        cursor = step.cursor;
      }
      await early.query(`INSERT INTO orders VALUES (24, 'early too')`);
      await early.query('COMMIT');
    } finally {
      early.release();
    }
    await app.query(`INSERT INTO orders VALUES (25, 'last')`);
    for (let i = 0; i < 2; i++) {
      const step = await exportOnce(cursor);
      seen.push(...keys(step.records));
      cursor = step.cursor;
    }
    expect(seen.sort()).toEqual(['20', '21', '22', '23', '24', '25'].map((id) => `INSERT ${id}`).sort());
  });

  it('a step that runs while a younger transaction is still open leaves its rows, with smaller ids, to a later step', async () => {
    const older = await app.connect();
    const younger = await app.connect();
    const seen: string[] = [];
    try {
      await older.query('BEGIN');
      await older.query(`INSERT INTO orders VALUES (60, 'older')`);
      await younger.query('BEGIN');
      await younger.query(`INSERT INTO orders VALUES (61, 'younger')`);
      await older.query('COMMIT');
      // The horizon moves up to the younger transaction: this step takes the older one's row, and its mark is taken
      // while the younger one, whose row has a smaller id than that mark's, is still open.
      await app.query(`INSERT INTO orders VALUES (62, 'after both began')`);
      const step = await exportOnce(cursor, { now: true });
      seen.push(...keys(step.records));
      cursor = step.cursor;
      await younger.query('COMMIT');
    } finally {
      older.release();
      younger.release();
    }
    for (let i = 0; i < 2; i++) {
      const step = await exportOnce(cursor);
      seen.push(...keys(step.records));
      cursor = step.cursor;
    }
    expect(seen.sort()).toEqual(['INSERT 60', 'INSERT 61', 'INSERT 62']);
  });

  it('rolled-back rows are never exported', async () => {
    const client = await app.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO orders VALUES (30, 'rolled back')`);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    await app.query(`INSERT INTO orders VALUES (31, 'kept')`);
    const step = await exportOnce(cursor);
    expect(keys(step.records)).toEqual(['INSERT 31']);
    cursor = step.cursor;
  });

  it('resumes a step midway, in either log: the same rows at the same positions, after the last one delivered', async () => {
    await app.query(`INSERT INTO orders VALUES (40, 'a'), (41, 'b'), (42, 'c')`);
    const writer = new ApiLogWriter(app, 'auditrum', { batchSize: 10, flushIntervalMs: 60_000 }, () => undefined);
    for (const id of ['req-40', 'req-41', 'req-42']) writer.push(request(id));
    await writer.close();
    await waitForHorizon(db.pool);
    let atStep: ExportCursor | undefined;
    /** Takes `count` records from `from` and stops, as a crash would; returns them and the cursor after them. */
    const take = async (from: ExportCursor, count: number) => {
      const records: ExportRecord[] = [];
      const run = exportLogs(admin, 'auditrum', {
        cursor: from,
        checkpoint: async (c) => {
          atStep ??= c;
        },
      });
      for await (const record of run) {
        records.push(record);
        if (records.length === count) break;
      }
      return { records, cursor: run.cursor as ExportCursor };
    };
    const first = await take(cursor, 2);
    expect(keys(first.records)).toEqual(['INSERT 40', 'INSERT 41']);
    expect(first.cursor).toMatchObject({ step: atStep?.step, delivered: 2, last: { log: 'changes' } });
    const second = await take(first.cursor, 2);
    expect(keys(second.records)).toEqual(['INSERT 42', 'request req-40']);
    expect(second.cursor).toMatchObject({ delivered: 4, last: { log: 'requests', id: second.records[1]?.id } });
    const rest = await exportOnce(second.cursor);
    expect(keys(rest.records)).toEqual(['request req-41', 'request req-42']);
    const step = (atStep as ExportCursor).step;
    expect([...first.records, ...second.records, ...rest.records].map((r) => r.position)).toEqual(
      [0, 1, 2, 3, 4, 5].map((i) => `${step}:${i}`),
    );
    cursor = rest.cursor;
  });

  it('createAuditrum().export() follows new rows until aborted', async () => {
    const audit = createAuditrum({ pool: admin, partitions: false });
    const controller = new AbortController();
    const seen: string[] = [];
    const run = audit.export({ cursor, follow: true, pollIntervalMs: 20, signal: controller.signal });
    const done = (async () => {
      for await (const record of run) {
        seen.push(...keys([record]));
        if (seen.length === 2) controller.abort();
      }
    })();
    await app.query(`INSERT INTO orders VALUES (50, 'followed')`);
    await app.query(`INSERT INTO orders VALUES (51, 'followed')`);
    await done;
    expect(seen).toEqual(['INSERT 50', 'INSERT 51']);
    cursor = run.cursor as ExportCursor;
  });

  it('the application role cannot export: it may not read the change log sequence after harden', async () => {
    const run = exportLogs(app, 'auditrum');
    await expect(
      (async () => {
        for await (const _ of run);
      })(),
    ).rejects.toThrow(/permission denied/);
  });

  it('refuses bad options, naming them', () => {
    const bad: [unknown, RegExp][] = [
      [{ since: '2026-01-01T00:00:00' }, /has no time zone/],
      [{ since: 'yesterday' }, /not an ISO 8601 time/],
      [{ logs: ['changes', 'audit'] }, /"logs" must name one or both/],
      [{ logs: [] }, /"logs" must name one or both/],
      [{ pollIntervalMs: 0 }, /"pollIntervalMs"/],
      [{ deliveredThrough: '7' }, /"deliveredThrough"/],
      [{ cursor, since: '2026-01-01T00:00:00Z' }, /"since" starts a new cursor/],
      [{ cursor, logs: ['requests'] }, /the cursor exports changes, requests, not requests/],
      [{ folow: true }, /unknown option "folow"/],
    ];
    for (const [options, message] of bad) {
      expect(() => exportLogs(admin, 'auditrum', options as never), JSON.stringify(options)).toThrow(message);
      expect(() => exportLogs(admin, 'auditrum', options as never)).toThrow(ExportInputError);
    }
  });
});
