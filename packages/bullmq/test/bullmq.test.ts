import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { auditFlowProducer, auditProcessor, auditQueue } from '@auditrum/bullmq';
import { createAuditrum, withAuditContext } from '@auditrum/core';
import type { RedisServer } from '@auditrum/test-kit';
import { findRedisServer, SOURCE_NODE_ARGS, startRedisServer, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type { Job } from 'bullmq';
import { FlowProducer, Queue, QueueEvents, Worker } from 'bullmq';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

// CI installs redis-server and sets AUDITRUM_REQUIRE_REDIS=1, so that this file cannot be skipped there.
const binary = await findRedisServer();
if (!binary && process.env.AUDITRUM_REQUIRE_REDIS === '1') {
  throw new Error('AUDITRUM_REQUIRE_REDIS=1 but redis-server is not installed');
}
if (!binary)
  console.warn('bullmq.test.ts skipped: redis-server is not installed (Debian: apt-get install redis-server)');

const db = useTestDatabase();
const app = useAppRole(db);

interface Attributed {
  row_key: string;
  actor_id: string | null;
  request_id: string | null;
  context: Record<string, unknown>;
}

describe.skipIf(!binary)('BullMQ: the enqueuing context restored in the worker', () => {
  let redis: RedisServer;
  let pool: pg.Pool;
  const closers: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    redis = await startRedisServer(binary);
    pool = app.openPool({ max: 2 });
    await pool.query('CREATE TABLE parcels (id int PRIMARY KEY, state text NOT NULL DEFAULT $$new$$)');
    await pool.query('INSERT INTO parcels SELECT g FROM generate_series(1, 100) g');
    // Tracking is the schema owner's act; the app role owns the table and writes it.
    await createAuditrum({ pool: db.pool, partitions: false }).track('parcels');
    createAuditrum({ pool, partitions: false });
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });
  afterAll(async () => {
    await pool?.end();
    await redis?.stop();
  });

  function connection() {
    return { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
  }

  /** A queue (audited unless told otherwise), a worker running `processor`, and its events; all closed after the test. */
  async function setUp(
    processor: (job: Job) => Promise<unknown>,
    options: { audited?: boolean; concurrency?: number } = {},
  ) {
    const name = `q-${randomBytes(4).toString('hex')}`;
    const plain = new Queue(name, { connection: connection() });
    const queue = options.audited === false ? plain : auditQueue(plain);
    const events = new QueueEvents(name, { connection: connection() });
    await events.waitUntilReady();
    // A dozen adds and waitUntilFinished() calls at once each listen until they end: expected here, not a leak.
    plain.setMaxListeners(50);
    events.setMaxListeners(50);
    const worker = new Worker(name, auditProcessor(processor), {
      connection: connection(),
      concurrency: options.concurrency ?? 1,
    });
    closers.push(
      () => queue.close(),
      () => events.close(),
      () => worker.close(),
    );
    return { name, queue, events, worker };
  }

  async function changesOf(ids: number[]): Promise<Attributed[]> {
    const { rows } = await db.pool.query<Attributed>(
      `SELECT row_key, actor_id, request_id, context FROM auditrum.change_log
       WHERE table_name = 'parcels' AND row_key = ANY ($1::text[]) ORDER BY id`,
      [ids.map(String)],
    );
    return rows;
  }

  it("records a job's changes under who enqueued it, with the request that enqueued it and the job's queue, name, id and attempt", async () => {
    const { name, queue, events } = await setUp(async (job) => {
      await pool.query('UPDATE parcels SET state = $1 WHERE id = $2', ['shipped', job.data.parcel]);
    });
    const job = await withAuditContext(
      { actor: { id: '42', label: 'carol@shop.test' }, requestId: 'req-ship-1', reason: 'order #7', source: 'http' },
      () => queue.add('ship', { parcel: 1 }),
    );
    await job.waitUntilFinished(events);
    expect(await changesOf([1])).toEqual([
      {
        row_key: '1',
        actor_id: '42',
        request_id: 'req-ship-1',
        context: {
          actor_label: 'carol@shop.test',
          reason: 'order #7',
          source: 'job',
          job_queue: name,
          job_name: 'ship',
          job_id: job.id,
          job_attempt: 1,
        },
      },
    ]);
  });

  it('keeps the context across a retry, counting the attempt', async () => {
    const { queue, events } = await setUp(async (job) => {
      await pool.query('UPDATE parcels SET state = $1 WHERE id = 2', [`try ${job.attemptsMade + 1}`]);
      if (job.attemptsMade === 0) throw new Error('carrier timed out');
    });
    const job = await withAuditContext({ actor: { id: 'dave' }, requestId: 'req-retry' }, () =>
      queue.add('ship', { parcel: 2 }, { attempts: 2 }),
    );
    await job.waitUntilFinished(events);
    expect((await changesOf([2])).map((c) => [c.actor_id, c.request_id, c.context.job_attempt])).toEqual([
      ['dave', 'req-retry', 1],
      ['dave', 'req-retry', 2],
    ]);
  });

  it('runs each job of a scheduler (a repeatable job) as who scheduled it', async () => {
    let runs = 0;
    const done = Promise.withResolvers<void>();
    const { queue } = await setUp(async () => {
      runs += 1;
      await pool.query('UPDATE parcels SET state = $1 WHERE id = 3', [`run ${runs}`]);
      if (runs === 2) done.resolve();
    });
    await withAuditContext({ actor: { id: 'ops' }, reason: 'hourly sweep' }, () =>
      queue.upsertJobScheduler('sweep', { every: 200, limit: 2 }, { name: 'sweep', data: {} }),
    );
    await done.promise;
    const changes = await changesOf([3]);
    expect(changes.map((c) => [c.actor_id, c.context.reason, c.context.job_name])).toEqual([
      ['ops', 'hourly sweep', 'sweep'],
      ['ops', 'hourly sweep', 'sweep'],
    ]);
  });

  it('never swaps users between jobs run concurrently over a pool of two', async () => {
    const { queue, events } = await setUp(
      async (job) => {
        await new Promise((resolve) => setTimeout(resolve, (job.data.parcel * 7) % 5));
        await pool.query('UPDATE parcels SET state = $1 WHERE id = $2', ['sorted', job.data.parcel]);
      },
      { concurrency: 4 },
    );
    const parcels = Array.from({ length: 12 }, (_, i) => 10 + i);
    const jobs = await Promise.all(
      parcels.map((parcel) =>
        withAuditContext({ actor: { id: `user-${parcel}` }, requestId: `req-${parcel}` }, () =>
          queue.add('sort', { parcel }),
        ),
      ),
    );
    await Promise.all(jobs.map((job) => job.waitUntilFinished(events)));
    const changes = (await changesOf(parcels)).sort((a, b) => Number(a.row_key) - Number(b.row_key));
    expect(changes.map((c) => [c.row_key, c.actor_id, c.request_id])).toEqual(
      parcels.map((parcel) => [String(parcel), `user-${parcel}`, `req-${parcel}`]),
    );
  });

  it('refuses, at enqueue time, job data that cannot carry the context, and enqueues nothing', async () => {
    const { queue } = await setUp(async () => {});
    await withAuditContext({ actor: { id: 'erin' } }, async () => {
      await expect(queue.add('ship', 'parcel 4')).rejects.toThrow(
        "auditrum: queue.add: a job's data must be a plain object to carry the audit context (got string); wrap it, e.g. { value }",
      );
      await expect(queue.add('ship', { parcel: 4, auditrum: 'mine' })).rejects.toThrow(
        'auditrum: queue.add: the job\'s data already has a "auditrum" field, which carries the audit context',
      );
    });
    expect(await queue.count()).toBe(0);
  });

  it('refuses data with its own context outside any context too: it would name the actor of the job', async () => {
    let ran = false;
    const { queue } = await setUp(async () => {
      ran = true;
      await pool.query("UPDATE parcels SET state = 'forged' WHERE id = 6");
    });
    // A consumer of another system's messages, in no context, enqueues a payload it was sent as it came: before,
    // the job ran as "ceo" with request "forged" (the worker believes what a job carries).
    const payload = { parcel: 6, auditrum: { auditrum: 1, actor: { id: 'ceo' }, requestId: 'forged' } };
    const refused =
      'auditrum: queue.add: the job\'s data already has a "auditrum" field, which carries the audit context';
    await expect(queue.add('import', payload)).rejects.toThrow(refused);
    await expect(queue.addBulk([{ name: 'import', data: payload }])).rejects.toThrow(
      refused.replace('add:', 'addBulk:'),
    );
    await expect(queue.upsertJobScheduler('every', { every: 60_000 }, { data: payload })).rejects.toThrow(
      refused.replace('queue.add:', 'queue.upsertJobScheduler:'),
    );
    expect(await queue.count()).toBe(0);
    expect(await queue.getJobSchedulersCount()).toBe(0);
    expect(ran).toBe(false);
    expect(await changesOf([6])).toEqual([]);
  });

  it('carries the context once when auditQueue() is called twice on a queue', async () => {
    const { queue, events } = await setUp(async () => {
      await pool.query("UPDATE parcels SET state = 'twice' WHERE id = 7");
    });
    // Before, the second wrapper gave the data its context and the first refused it: every add in a request failed.
    expect(auditQueue(queue)).toBe(queue);
    const job = await withAuditContext({ actor: { id: 'gus' }, requestId: 'req-twice' }, () =>
      queue.add('ship', { parcel: 7 }),
    );
    await job.waitUntilFinished(events);
    expect((await changesOf([7])).map((c) => [c.row_key, c.actor_id, c.request_id])).toEqual([
      ['7', 'gus', 'req-twice'],
    ]);
  });

  it('fails a job whose carried context is malformed before it writes anything', async () => {
    let ran = false;
    const { queue, events } = await setUp(
      async () => {
        ran = true;
        await pool.query("UPDATE parcels SET state = 'lost' WHERE id = 5");
      },
      { audited: false },
    );
    const job = await queue.add('ship', { parcel: 5, auditrum: { auditrum: 1, actor: { id: 42 } } });
    await expect(job.waitUntilFinished(events)).rejects.toThrow(
      'auditrum: the captured context has a bad actor.id (not a non-empty string)',
    );
    expect(ran).toBe(false);
    expect(await changesOf([5])).toEqual([]);
  });
  it('runs every job of a flow, parent and children, as who added the flow', async () => {
    const child = await setUp(async (job) => {
      await pool.query('UPDATE parcels SET state = $1 WHERE id = $2', ['packed', job.data.parcel]);
    });
    const parent = await setUp(async (job) => {
      await pool.query('UPDATE parcels SET state = $1 WHERE id = $2', ['dispatched', job.data.parcel]);
    });
    const flows = auditFlowProducer(new FlowProducer({ connection: connection() }));
    closers.push(() => flows.close());
    // Before, only a queue carried the context: a flow's jobs ran as nobody (source job, no actor, no request).
    const tree = await withAuditContext({ actor: { id: 'hana' }, requestId: 'req-flow', reason: 'order #9' }, () =>
      flows.add({
        name: 'dispatch',
        queueName: parent.name,
        data: { parcel: 30 },
        children: [
          { name: 'pack', queueName: child.name, data: { parcel: 31 } },
          {
            name: 'pack',
            queueName: child.name,
            data: { parcel: 32 },
            children: [{ name: 'pack', queueName: child.name, data: { parcel: 33 } }],
          },
        ],
      }),
    );
    await tree.job.waitUntilFinished(parent.events);
    expect(
      (await changesOf([30, 31, 32, 33])).map((c) => [
        c.row_key,
        c.actor_id,
        c.request_id,
        c.context.reason,
        c.context.job_name,
      ]),
    ).toEqual(
      expect.arrayContaining([
        ['30', 'hana', 'req-flow', 'order #9', 'dispatch'],
        ['31', 'hana', 'req-flow', 'order #9', 'pack'],
        ['32', 'hana', 'req-flow', 'order #9', 'pack'],
        ['33', 'hana', 'req-flow', 'order #9', 'pack'],
      ]),
    );
    expect(await changesOf([30, 31, 32, 33])).toHaveLength(4);
    // A flow's parent runs after its children.
    expect((await changesOf([30, 31, 32, 33])).at(-1)?.row_key).toBe('30');
  });

  it('refuses a flow any of whose jobs cannot carry the context, and adds none of them', async () => {
    const { name, queue } = await setUp(async () => {});
    const flows = auditFlowProducer(new FlowProducer({ connection: connection() }));
    closers.push(() => flows.close());
    expect(auditFlowProducer(flows)).toBe(flows);
    const forged = { parcel: 34, auditrum: { auditrum: 1, actor: { id: 'ceo' } } };
    // A forged context in a grandchild, outside any context: refused as on a queue.
    await expect(
      flows.add({
        name: 'dispatch',
        queueName: name,
        data: { parcel: 34 },
        children: [
          { name: 'pack', queueName: name, data: {}, children: [{ name: 'pack', queueName: name, data: forged }] },
        ],
      }),
    ).rejects.toThrow(
      'auditrum: flowProducer.add: the job\'s data already has a "auditrum" field, which carries the audit context',
    );
    await withAuditContext({ actor: { id: 'ivan' } }, async () => {
      await expect(
        flows.addBulk([
          { name: 'dispatch', queueName: name, data: { parcel: 35 } },
          { name: 'dispatch', queueName: name, data: 'parcel 36' },
        ]),
      ).rejects.toThrow(
        "auditrum: flowProducer.addBulk: a job's data must be a plain object to carry the audit context (got string); wrap it, e.g. { value }",
      );
    });
    expect(await queue.count()).toBe(0);
    expect(await queue.getWaitingChildrenCount()).toBe(0);
  });

  // A sandboxed processor runs the file in a process (or thread) of its own, where auditProcessor() wraps the function
  // the file exports: the job it gets there is a SandboxedJob, its data parsed from JSON.
  it.each([
    ['a child process', false],
    ['a worker thread', true],
  ])('runs a sandboxed processor in %s as who enqueued the job', async (_where, useWorkerThreads) => {
    const parcel = useWorkerThreads ? 41 : 40;
    const name = `q-${randomBytes(4).toString('hex')}`;
    const queue = auditQueue(new Queue(name, { connection: connection() }));
    const events = new QueueEvents(name, { connection: connection() });
    await events.waitUntilReady();
    const env = { ...process.env, AUDITRUM_SANDBOX_DATABASE_URL: app.url };
    const worker = new Worker(name, fileURLToPath(new URL('fixtures/sandboxed-shipping.ts', import.meta.url)), {
      connection: connection(),
      useWorkerThreads,
      workerForkOptions: { execArgv: [...SOURCE_NODE_ARGS], env },
      workerThreadsOptions: { execArgv: [...SOURCE_NODE_ARGS], env },
    });
    closers.push(
      () => queue.close(),
      () => events.close(),
      () => worker.close(),
    );
    const job = await withAuditContext({ actor: { id: 'jo', label: 'jo@shop.test' }, requestId: 'req-sandbox' }, () =>
      queue.add('ship', { parcel, state: 'shipped from a sandbox' }),
    );
    await job.waitUntilFinished(events);
    expect(await changesOf([parcel])).toEqual([
      {
        row_key: String(parcel),
        actor_id: 'jo',
        request_id: 'req-sandbox',
        context: {
          actor_label: 'jo@shop.test',
          source: 'job',
          job_queue: name,
          job_name: 'ship',
          job_id: job.id,
          job_attempt: 1,
        },
      },
    ]);
  });
});
