import { createAuditrum, withAuditContext } from '@auditrum/core';
import type { PgBouncer } from '@auditrum/test-kit';
import { findPgBouncer, startPgBouncer, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// CI installs pgbouncer and sets AUDITRUM_REQUIRE_PGBOUNCER=1, so that this file cannot be skipped there.
const binary = await findPgBouncer();
if (!binary && process.env.AUDITRUM_REQUIRE_PGBOUNCER === '1') {
  throw new Error('AUDITRUM_REQUIRE_PGBOUNCER=1 but pgbouncer is not installed');
}
if (!binary) console.warn('pgbouncer.test.ts skipped: pgbouncer is not installed (Debian: apt-get install pgbouncer)');

const db = useTestDatabase();

describe.skipIf(!binary)('context behind PgBouncer in transaction mode', () => {
  let bouncer: PgBouncer;
  let pool: pg.Pool;
  beforeAll(async () => {
    await db.pool.query('CREATE TABLE wallets (id int PRIMARY KEY, balance int NOT NULL DEFAULT 0)');
    await db.pool.query('INSERT INTO wallets SELECT g FROM generate_series(1, 200) g');
    await createAuditrum({ pool: db.pool, partitions: false }).track('wallets');
    // One server connection shared by every client: whatever one transaction leaves behind, the next one sees.
    bouncer = await startPgBouncer({ upstreamUrl: db.url, poolMode: 'transaction', poolSize: 1 });
    pool = db.openPool({ connectionString: bouncer.url, max: 8 });
    createAuditrum({ pool, partitions: false });
  });
  afterAll(async () => {
    await pool?.end();
    await bouncer?.stop();
  });

  it('gives each change its own actor and request while all share one server connection', async () => {
    const backends = new Set<number>();
    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        withAuditContext({ actor: { id: `user-${i}` }, requestId: `req-${i}`, source: 'job' }, async () => {
          if (i % 3 === 0) {
            // An explicit transaction: PgBouncer keeps it on one server connection until COMMIT.
            const client = await pool.connect();
            try {
              await client.query('BEGIN');
              const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
              backends.add(rows[0]?.pid ?? -1);
              await client.query('UPDATE wallets SET balance = balance + 1 WHERE id = $1', [i + 1]);
              await client.query('COMMIT');
            } finally {
              client.release();
            }
          } else {
            await pool.query('UPDATE wallets SET balance = balance + 1 WHERE id = $1', [i + 1]);
          }
        }),
      ),
    );
    expect([...backends]).toHaveLength(1);
    const { rows } = await db.pool.query<{ row_key: string; actor_id: string; request_id: string; source: string }>(
      `SELECT row_key, actor_id, request_id, context->>'source' AS source FROM auditrum.changes ORDER BY row_key::int`,
    );
    expect(rows).toEqual(
      Array.from({ length: 60 }, (_, i) => ({
        row_key: String(i + 1),
        actor_id: `user-${i}`,
        request_id: `req-${i}`,
        source: 'job',
      })),
    );
  });

  it('records a write without context as a database write right after one with context', async () => {
    await withAuditContext({ actor: { id: 'alice' }, requestId: 'req-before' }, () =>
      pool.query('UPDATE wallets SET balance = 7 WHERE id = 150'),
    );
    await pool.query('UPDATE wallets SET balance = 8 WHERE id = 150');
    const { rows } = await db.pool.query<{ actor_id: string | null; request_id: string | null; source: string }>(
      `SELECT actor_id, request_id, context->>'source' AS source FROM auditrum.changes WHERE row_key = '150' ORDER BY id`,
    );
    expect(rows).toEqual([
      { actor_id: 'alice', request_id: 'req-before', source: 'app' },
      { actor_id: null, request_id: null, source: 'db' },
    ]);
  });

  it('refuses an upstream whose values would break out of its ini file, starting nothing', async () => {
    await expect(
      startPgBouncer({ upstreamUrl: 'postgres://postgres:a%20b%3Dc@127.0.0.1:5432/postgres' }),
    ).rejects.toThrow('startPgBouncer: unsupported character in "a b=c"');
  });
});
