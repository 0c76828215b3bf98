import {
  CapturedContextError,
  captureAuditContext,
  createAuditrum,
  setAuditActor,
  withAuditContext,
  withCapturedAuditContext,
} from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const db = useTestDatabase();
const app = useAppRole(db);

interface Attributed {
  row_key: string;
  actor_id: string | null;
  request_id: string | null;
  context: Record<string, unknown>;
}

/** What a queue does to job data: it keeps JSON, not objects. */
function throughQueue<T>(value: T): T {
  return JSON.parse(JSON.stringify(value ?? null)) ?? undefined;
}

describe('a context captured where a job is enqueued and restored where it runs', () => {
  let pool: pg.Pool;
  beforeAll(async () => {
    pool = app.openPool({ max: 2 });
    await pool.query('CREATE TABLE receipts (id int PRIMARY KEY, sent boolean NOT NULL DEFAULT false)');
    await pool.query('INSERT INTO receipts SELECT g FROM generate_series(1, 20) g');
    // Tracking is the schema owner's act; the app role owns the table and writes it.
    await createAuditrum({ pool: db.pool, partitions: false }).track('receipts');
    createAuditrum({ pool, partitions: false });
  });
  afterAll(() => pool.end());

  async function changesOf(ids: number[]): Promise<Attributed[]> {
    const { rows } = await db.pool.query<Attributed>(
      `SELECT row_key, actor_id, request_id, context FROM auditrum.change_log
       WHERE table_name = 'receipts' AND row_key = ANY ($1::text[]) ORDER BY id`,
      [ids.map(String)],
    );
    return rows;
  }

  it("records the job's changes under who enqueued it, with the request that enqueued it and the job's own facts", async () => {
    const captured = await withAuditContext(
      {
        actor: () => ({ id: '42', label: 'carol@shop.test' }),
        requestId: 'req-enqueue',
        reason: 'order #7',
        source: 'http',
        route: '/orders/:id',
      },
      async () => throughQueue(captureAuditContext()),
    );
    expect(captured).toEqual({
      auditrum: 1,
      actor: { id: '42', label: 'carol@shop.test' },
      reason: 'order #7',
      requestId: 'req-enqueue',
    });

    // The worker runs later, outside any request.
    await withCapturedAuditContext(
      captured,
      { job: { queue: 'mail', name: 'send-receipt', id: '981', attempt: 2 } },
      () => pool.query('UPDATE receipts SET sent = true WHERE id = 1'),
    );
    expect(await changesOf([1])).toEqual([
      {
        row_key: '1',
        actor_id: '42',
        request_id: 'req-enqueue',
        context: {
          actor_label: 'carol@shop.test',
          reason: 'order #7',
          source: 'job',
          job_queue: 'mail',
          job_name: 'send-receipt',
          job_id: '981',
          job_attempt: 2,
        },
      },
    ]);
  });

  it('captures a snapshot: an actor set after the job was enqueued does not reach it', async () => {
    const captured = await withAuditContext({ actor: { id: 'first' } }, async () => {
      const snapshot = throughQueue(captureAuditContext());
      setAuditActor({ id: 'second' });
      return snapshot;
    });
    await withCapturedAuditContext(captured, { job: { queue: 'q' } }, () =>
      pool.query('UPDATE receipts SET sent = true WHERE id = 2'),
    );
    expect((await changesOf([2])).map((c) => c.actor_id)).toEqual(['first']);
  });

  it('runs a job enqueued outside any context (a cron tick) with its own context alone', async () => {
    expect(captureAuditContext()).toBeUndefined();
    await withCapturedAuditContext(
      throughQueue(captureAuditContext()),
      { job: { queue: 'node-cron', name: 'nightly' }, reason: 'nightly clean-up' },
      () => pool.query('UPDATE receipts SET sent = true WHERE id = 3'),
    );
    expect(await changesOf([3])).toEqual([
      {
        row_key: '3',
        actor_id: null,
        request_id: null,
        context: { reason: 'nightly clean-up', source: 'job', job_queue: 'node-cron', job_name: 'nightly' },
      },
    ]);
  });

  it('never lets two interleaved jobs on a pool of one swap their users', async () => {
    const onePool = app.openPool({ max: 1 });
    try {
      const jobs = Array.from({ length: 8 }, (_, i) => ({
        id: 10 + i,
        captured: throughQueue(
          withAuditContext({ actor: { id: `user-${i}` }, requestId: `req-${i}` }, () => captureAuditContext()),
        ),
      }));
      await Promise.all(
        jobs.map((job) =>
          withCapturedAuditContext(job.captured, { job: { queue: 'q', id: String(job.id) } }, async () => {
            await new Promise((resolve) => setTimeout(resolve, (job.id * 7) % 5));
            await onePool.query('UPDATE receipts SET sent = NOT sent WHERE id = $1', [job.id]);
          }),
        ),
      );
      // In the order the jobs' writes reached the pool, which the timers shuffle: compared by row.
      const changes = (await changesOf(jobs.map((job) => job.id))).sort(
        (a, b) => Number(a.row_key) - Number(b.row_key),
      );
      expect(changes.map((c) => [c.row_key, c.actor_id, c.request_id, c.context.job_id])).toEqual(
        jobs.map((job, i) => [String(job.id), `user-${i}`, `req-${i}`, String(job.id)]),
      );
    } finally {
      await onePool.end();
    }
  });

  it.each([
    ['a string', 'actor 42', 'is not an object'],
    ['an array', [], 'is not an object'],
    ['another format', { auditrum: 2 }, 'has format 2, not 1'],
    ['no format', { actor: { id: '1' } }, 'has format none, not 1'],
    ['an unknown field', { auditrum: 1, user: 'x' }, 'has unknown field "user"'],
    ['an actor id that is a number', { auditrum: 1, actor: { id: 42 } }, 'has a bad actor.id (not a non-empty string)'],
    ['an empty actor id', { auditrum: 1, actor: { id: '' } }, 'has a bad actor.id (not a non-empty string)'],
    [
      'an actor with more',
      { auditrum: 1, actor: { id: '1', role: 'admin' } },
      'has an actor with unknown field "role"',
    ],
    ['a meta that is an array', { auditrum: 1, meta: [1] }, 'has a meta that is not an object'],
  ])('refuses %s before the job writes anything', async (_, captured, problem) => {
    let ran = false;
    expect(() =>
      withCapturedAuditContext(captured, { job: { queue: 'q' } }, () => {
        ran = true;
      }),
    ).toThrow(new CapturedContextError(problem));
    expect(ran).toBe(false);
  });
});
