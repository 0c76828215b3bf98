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

function exportRequest(): Promise<AdminResponse> {
  return admin({
    method: 'GET',
    path: 'api/table-as-of/export',
    query: new URLSearchParams({ table: 'public.wide', at, format: 'ndjson' }),
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
