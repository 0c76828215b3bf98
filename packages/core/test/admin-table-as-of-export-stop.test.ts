import { createAuditrum } from '@auditrum/core';
import type { AdminHandler, AdminResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * A table as of a time export stopped in the middle of the whole table's rebuild (its COPY): the connection is
 * discarded, so the COPY must be cut off there, not read to its end first (the rest of the table, which the export
 * read and dropped before giving the connection back: on a pool of one the admin waited for all of it). Measured by
 * the bytes the export's connection read, against the whole export's. As a non-superuser application role.
 */

const db = useTestDatabase();
const role = useAppRole(db);
let pool: pg.Pool;
let admin: AdminHandler<null>;
const errors: unknown[] = [];
let at = '';
const GATE = 4242;

function exportRequest(table = 'public.wide'): Promise<AdminResponse> {
  return admin({
    method: 'GET',
    path: 'api/table-as-of/export',
    query: new URLSearchParams({ table, at, format: 'ndjson' }),
    headers: {},
    basePath: '',
    raw: null,
  });
}

/** How many bytes the connection the pool hands out next has received since (call it once the work is done). */
function nextConnectionBytes(): Promise<() => number> {
  return new Promise((resolve) => {
    pool.once('acquire', (client) => {
      const socket = (client as unknown as { connection: { stream: { bytesRead: number } } }).connection.stream;
      const start = socket.bytesRead;
      resolve(() => socket.bytesRead - start);
    });
  });
}

beforeAll(async () => {
  const setUp = role.openPool({ max: 1 });
  await grantLogReads(db, role);
  await setUp.query('CREATE TABLE wide (id int PRIMARY KEY, body text)');
  await createAuditrum({ pool: db.pool, partitions: false }).track('public.wide');
  createAuditrum({ pool: setUp, partitions: false });
  await setUp.query(`INSERT INTO wide SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g`);
  // A table whose rows after the tenth can be read only once the test lets them: a row-level security policy waits
  // for an advisory lock the test holds, so the whole table's rebuild stalls before its first row, as a large
  // table's does while it reads the log, and the first page (ten rows) does not.
  await setUp.query('CREATE TABLE gated (id int PRIMARY KEY)');
  await setUp.query(`INSERT INTO gated SELECT generate_series(1, 30)`);
  await setUp.query(`CREATE FUNCTION gate(id int) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
    BEGIN
      IF id > 10 THEN PERFORM pg_advisory_xact_lock_shared(${GATE}); END IF;
      RETURN true;
    END $$`);
  await setUp.query('CREATE POLICY gated_rows ON gated USING (gate(id))');
  await setUp.query('ALTER TABLE gated ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY');
  await createAuditrum({ pool: db.pool, partitions: false }).track('public.gated');
  at = new Date().toISOString();
  await setUp.end();
  pool = role.openPool({ max: 1 });
  admin = createAdminRoutes({ pool, authorize: () => true, onError: (error) => errors.push(error) });
});

afterAll(async () => {
  await pool?.end();
  expect(errors).toEqual([]);
});

describe('a table as of a time export stopped mid-COPY', () => {
  it('cuts the COPY off: its connection reads a small part of what the whole export reads', async () => {
    const whole = nextConnectionBytes();
    let lines = 0;
    for await (const chunk of (await exportRequest()).body as AsyncIterable<string>)
      lines += chunk.split('\n').length - 1;
    expect(lines).toBe(20_000);
    const wholeBytes = (await whole)();

    const stopped = nextConnectionBytes();
    const body = ((await exportRequest()).body as AsyncIterable<string>)[Symbol.asyncIterator]();
    for (let n = 0; n < 100; n++) expect((await body.next()).done).toBe(false);
    await body.return?.(undefined);
    // Discarded (a connection mid-COPY cannot be reused): the pool of one makes a new one, and answers.
    expect((await pool.query('SELECT count(*)::int AS n FROM wide')).rows).toEqual([{ n: 20_000 }]);
    expect((await stopped)()).toBeLessThan(wholeBytes / 4);
  });
});

describe('a table as of a time export whose client leaves while the rebuild has no row yet', () => {
  it('cancels the rebuild at once, instead of holding the connection until its first rows come', async () => {
    const locker = await db.pool.connect();
    try {
      await locker.query('SELECT pg_advisory_lock($1)', [GATE]);
      const body = ((await exportRequest('public.gated')).body as AsyncIterable<string>)[Symbol.asyncIterator]();
      let rows = 0;
      while (rows < 10) rows += ((await body.next()).value as string).split('\n').length - 1;
      expect(rows).toBe(10);
      // The rebuild waits at row 11; the client asks for more, then leaves.
      // (Its outcome is taken at once: it fails when the rebuild is cancelled, before the test looks at it.)
      const waiting = body.next().then(
        () => 'a row',
        (error: { code?: string }) => error.code,
      );
      await until(async () => (await gateWaiters()) === 1);
      const left = body.return?.(undefined);
      const outcome = await Promise.race([
        left?.then(() => 'returned'),
        new Promise((resolve) => setTimeout(resolve, 5000, 'still waiting')),
      ]);
      expect(outcome).toBe('returned');
      expect(await gateWaiters()).toBe(0);
      // The read the client left waiting ends with the cancelled statement, which reaches nobody else.
      expect(await waiting).toBe('57014');
    } finally {
      await locker.query('SELECT pg_advisory_unlock_all()');
      locker.release();
    }
    // The pool of one answers: the export's connection came back (discarded, a new one made).
    expect((await pool.query('SELECT count(*)::int AS n FROM wide')).rows).toEqual([{ n: 20_000 }]);
  });
});

/** Backends waiting for the gate's advisory lock. */
async function gateWaiters(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted`,
    [GATE],
  );
  return rows[0]?.n ?? 0;
}

async function until(condition: () => Promise<boolean>): Promise<void> {
  for (let tries = 0; tries < 200; tries++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the condition never held');
}
