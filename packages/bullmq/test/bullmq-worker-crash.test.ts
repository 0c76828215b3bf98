import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { auditProcessor, auditQueue } from '@auditrum/bullmq';
import { createAuditrum, withAuditContext } from '@auditrum/core';
import type { RedisServer } from '@auditrum/test-kit';
import { findRedisServer, SOURCE_NODE_ARGS, startRedisServer, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type { Job } from 'bullmq';
import { Queue, QueueEvents, Worker } from 'bullmq';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// CI installs redis-server and sets AUDITRUM_REQUIRE_REDIS=1, so that this file cannot be skipped there.
const binary = await findRedisServer();
if (!binary && process.env.AUDITRUM_REQUIRE_REDIS === '1') {
  throw new Error('AUDITRUM_REQUIRE_REDIS=1 but redis-server is not installed');
}
if (!binary)
  console.warn(
    'bullmq-worker-crash.test.ts skipped: redis-server is not installed (Debian: apt-get install redis-server)',
  );

const db = useTestDatabase();
const app = useAppRole(db);
// A worker's lock on a job lasts this long, and the workers look for stalled jobs as often (the first worker's interval
// holds for all until it passes): a crashed worker's job is taken back soon after its lock expires.
const LOCK_MS = 1000;

interface Attributed {
  row_key: string;
  new_values: Record<string, unknown>;
  actor_id: string | null;
  request_id: string | null;
  context: Record<string, unknown> | null;
}

/**
 * A worker process of its own that takes a job of `queue`, picks parcel 1 (committed), starts packing parcel 2 in a
 * transaction, says so on stdout, and hangs there until it is killed.
 */
function startDoomedWorker(queue: string, redisPort: number, databaseUrl: string): ChildProcess {
  const script = `
    import { auditProcessor } from '@auditrum/bullmq';
    import { createAuditrum } from '@auditrum/core';
    import { Worker } from 'bullmq';
    import pg from 'pg';
    const pool = new pg.Pool({ connectionString: ${JSON.stringify(databaseUrl)}, max: 1 });
    pool.on('error', () => {});
    createAuditrum({ pool, partitions: false });
    const processor = auditProcessor(async () => {
      await pool.query("UPDATE parcels SET state = 'picked by the first worker' WHERE id = 1");
      const client = await pool.connect();
      await client.query('BEGIN');
      await client.query("UPDATE parcels SET state = 'packed by the first worker' WHERE id = 2");
      console.log('MID-TRANSACTION');
      await new Promise(() => {});
    });
    new Worker(${JSON.stringify(queue)}, processor, {
      connection: { host: '127.0.0.1', port: ${redisPort}, maxRetriesPerRequest: null },
      lockDuration: ${LOCK_MS},
      stalledInterval: ${LOCK_MS},
    });`;
  return spawn(process.execPath, [...SOURCE_NODE_ARGS, '--input-type=module', '--eval', script], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

describe.skipIf(!binary)('BullMQ: a worker killed mid-job', () => {
  let redis: RedisServer;
  let pool: pg.Pool;

  beforeAll(async () => {
    redis = await startRedisServer(binary);
    pool = app.openPool({ max: 2 });
    await pool.query(`CREATE TABLE parcels (id int PRIMARY KEY, state text NOT NULL DEFAULT 'new')`);
    await pool.query('INSERT INTO parcels SELECT g FROM generate_series(1, 2) g');
    // Tracking is the schema owner's act; the app role owns the table and writes it.
    await createAuditrum({ pool: db.pool, partitions: false }).track('parcels');
    createAuditrum({ pool, partitions: false });
  });
  afterAll(async () => {
    await pool?.end();
    await redis?.stop();
  });

  it("loses the dead worker's open transaction, and another worker reruns the job under the job's context", async () => {
    const name = `q-${randomBytes(4).toString('hex')}`;
    const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
    const queue = auditQueue(new Queue(name, { connection }));
    const events = new QueueEvents(name, { connection });
    await events.waitUntilReady();
    const doomed = startDoomedWorker(name, redis.port, app.url);
    let survivor: Worker | undefined;
    try {
      const job = await withAuditContext(
        { actor: { id: '42', label: 'carol@shop.test' }, requestId: 'req-ship-8', reason: 'order #8', source: 'http' },
        () => queue.add('ship', { order: 8 }),
      );
      // Its first line, or how it ended if it could not start (its stderr is the test's).
      const said = await Promise.race([
        once(doomed.stdout as NodeJS.ReadableStream, 'data').then(([chunk]) => String(chunk)),
        once(doomed, 'exit').then(([code]) => `the worker exited with ${code}`),
      ]);
      expect(said).toBe('MID-TRANSACTION\n');
      doomed.kill('SIGKILL');
      await once(doomed, 'exit');

      // A worker still alive finds the job stalled once the dead one's lock expires, and runs it again.
      survivor = new Worker(
        name,
        auditProcessor(async (_job: Job) => {
          await pool.query(`UPDATE parcels SET state = 'picked by the second worker' WHERE id = 1`);
          await pool.query(`UPDATE parcels SET state = 'packed by the second worker' WHERE id = 2`);
        }),
        { connection, lockDuration: LOCK_MS, stalledInterval: LOCK_MS },
      );
      await job.waitUntilFinished(events);
      const finished = await queue.getJob(job.id as string);
      // Taken back from a crashed worker is not a failed attempt: BullMQ counts it as a stall, and a second start.
      expect(finished).toMatchObject({ attemptsMade: 1, stalledCounter: 1, attemptsStarted: 2 });

      const { rows } = await db.pool.query<Attributed>(
        `SELECT row_key, new_values, actor_id, request_id, context FROM auditrum.change_log
         WHERE table_name = 'parcels' ORDER BY id`,
      );
      // Every change the job made, by either worker: under who enqueued it, with the job's queue, name, id and attempt.
      const byTheJob = (rowKey: string, state: string) => ({
        row_key: rowKey,
        new_values: { state },
        actor_id: '42',
        request_id: 'req-ship-8',
        context: {
          actor_label: 'carol@shop.test',
          reason: 'order #8',
          source: 'job',
          job_queue: name,
          job_name: 'ship',
          job_id: job.id,
          job_attempt: 1,
        },
      });
      // The dead worker's committed write stays; its open transaction died with its connection, leaving no change.
      expect(rows).toEqual([
        byTheJob('1', 'picked by the first worker'),
        byTheJob('1', 'picked by the second worker'),
        byTheJob('2', 'packed by the second worker'),
      ]);
    } finally {
      doomed.kill('SIGKILL');
      await survivor?.close();
      await events.close();
      await queue.close();
    }
  }, 120_000);
});
