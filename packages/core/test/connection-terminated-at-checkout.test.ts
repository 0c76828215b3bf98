import { blame, createAuditrum } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useHistoryReader } from './history/blame-reader.js';

// A backend terminated just as it becomes ready sends its ReadyForQuery and its FATAL in one TCP chunk. pg-pool hands
// the new connection to `await pool.connect()` from within that parse, and pg emits 'error' for the FATAL before any
// awaiting code can listen: an uncaught exception that ends the host's process. Auditrum checks connections out
// with a listener already in place (db/queryable.ts). The pool here is a plain one, as a host's would be, not the
// test kit's (which listens on every connection).
const db = useTestDatabase();
const role = useAppRole(db);
const reader = useHistoryReader(db);
let pool: pg.Pool;
const uncaught: unknown[] = [];
const record = (error: unknown): void => {
  uncaught.push(error);
};

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: reader.url, max: 2 });
  pool.on('error', () => undefined);
  const app = role.openPool({ max: 1 });
  await app.query('CREATE TABLE meters (id int PRIMARY KEY, reading int)');
  await createAuditrum({ pool: db.pool, partitions: false }).track('public.meters');
  await app.query('INSERT INTO meters VALUES (1, 0)');
  await db.pool.query(`GRANT SELECT ON meters TO ${reader.name}`);
  await app.end();
  process.on('uncaughtException', record);
});

afterAll(async () => {
  process.off('uncaughtException', record);
  await pool.end();
});

describe('a connection terminated as the pool hands it over', () => {
  it('fails the call, never the process', async () => {
    const outcomes = new Map<string, number>();
    const until = Date.now() + 3_000;
    const caller = async () => {
      while (Date.now() < until) {
        const outcome = await blame(pool, 'auditrum', { table: 'meters', key: 1 }).then(
          (result) => (result.fields.length === 2 ? 'answered' : 'WRONG ANSWER'),
          (error: Error & { code?: string }) =>
            error.code === '57P01' || /terminat|connection|ECONNRESET/i.test(error.message)
              ? 'failed'
              : `unexpected: ${error.message}`,
        );
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
    };
    // Terminations back to back: some land as a connection becomes ready (calls that do get through between them
    // are few, fewer on a loaded machine, and not counted on).
    const terminator = async () => {
      while (Date.now() < until) {
        await db.pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [reader.name]);
      }
    };
    await Promise.all([caller(), caller(), caller(), terminator()]);
    expect(uncaught).toEqual([]);
    expect([...outcomes.keys()].filter((outcome) => outcome !== 'answered' && outcome !== 'failed')).toEqual([]);
    expect(outcomes.get('failed')).toBeGreaterThan(0);
    // The pool recovers: a connection killed by the last termination may fail one more call, then calls are answered.
    let answer: Awaited<ReturnType<typeof blame>> | undefined;
    for (let attempt = 0; attempt < 3 && answer === undefined; attempt++) {
      answer = await blame(pool, 'auditrum', { table: 'meters', key: 1 }).catch(() => undefined);
    }
    expect(answer?.fields.map((field) => field.field)).toEqual(['id', 'reading']);
  });
});
