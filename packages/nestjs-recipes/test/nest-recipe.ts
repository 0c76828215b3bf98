import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type { INestApplication } from '@nestjs/common';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

export interface RunningNest {
  app: INestApplication;
  /** Flushes the API log (and stops the app). */
  close(): Promise<void>;
}

/**
 * The cases every NestJS recipe of docs/nestjs.md must pass, on a listening Nest app built by `start` (see
 * shop-module.ts) on the test database, as the application's own role, with a pool of 2.
 */
export function runNestRecipe(platform: string, start: (pool: pg.Pool) => Promise<RunningNest>): void {
  describe(`NestJS on ${platform}`, () => {
    const db = useTestDatabase();
    const role = useAppRole(db);
    let running: RunningNest;
    let base: string;

    beforeAll(async () => {
      const pool = role.openPool({ max: 2 });
      await pool.query('CREATE TABLE items (id int PRIMARY KEY, name text, note text)');
      await pool.query(`INSERT INTO items SELECT g, 'item ' || g, NULL FROM generate_series(1, 100) g`);
      await db.pool.query(`SELECT auditrum.track('public.items')`);
      running = await start(pool);
      base = await running.app.getUrl();
    });

    afterAll(async () => {
      await running?.close();
    });

    const changes = (key: string) =>
      db.pool
        .query(
          `SELECT actor_id, request_id, context->>'actor_label' AS label, context->>'route' AS route,
             context->>'method' AS method, context->>'reason' AS reason
           FROM auditrum.change_log WHERE table_name = 'items' AND row_key = $1 ORDER BY id`,
          [key],
        )
        .then((result) => result.rows);
    const apiRow = async (requestId: string) => {
      const query = () =>
        db.pool.query(
          `SELECT method, path, route, status, actor_id, request_body, error FROM auditrum.api_requests
           WHERE request_id = $1`,
          [requestId],
        );
      await expect.poll(async () => (await query()).rowCount).toBe(1);
      return (await query()).rows[0];
    };
    const put = (id: number, headers: Record<string, string>, body: unknown) =>
      fetch(`${base}/items/${id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });

    it('gives the changes the actor a guard sets, the request id, route and reason, and logs the call masked', async () => {
      const res = await put(
        5,
        { 'x-test-user': '7|bob@x.io', 'x-request-id': 'nest-1', 'x-test-reason': 'ticket 5' },
        { name: 'five', password: 'hunter2' },
      );
      expect([res.status, res.headers.get('x-request-id')]).toEqual([200, 'nest-1']);
      const expected = { actor_id: '7', request_id: 'nest-1', label: 'bob@x.io', route: '/items/:id', method: 'PUT' };
      expect(await changes('5')).toEqual([
        { ...expected, reason: 'ticket 5' },
        { ...expected, reason: 'ticket 5' },
      ]);
      expect(await apiRow('nest-1')).toEqual({
        method: 'PUT',
        path: '/items/5',
        route: '/items/:id',
        status: 200,
        actor_id: '7',
        request_body: { name: 'five', password: '[masked]' },
        error: null,
      });
    });

    it('keeps 20 concurrent users apart over a pool of 2', async () => {
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          put(20 + i, { 'x-test-user': `u${i}|u${i}@x.io`, 'x-request-id': `nest-many-${i}` }, { name: `n${i}` }),
        ),
      );
      expect(answers.map((res) => res.status)).toEqual(Array.from({ length: 20 }, () => 200));
      for (let i = 0; i < 20; i++) {
        const rows = await changes(String(20 + i));
        expect(rows.map((row) => [row.actor_id, row.request_id])).toEqual([
          [`u${i}`, `nest-many-${i}`],
          [`u${i}`, `nest-many-${i}`],
        ]);
      }
    });

    it("stores the message of a handler's error (the filter's res.err) with Nest's 500", async () => {
      const res = await fetch(`${base}/items/9/fail`, {
        method: 'POST',
        headers: { 'x-test-user': '3|fay@x.io', 'x-request-id': 'nest-fail' },
      });
      expect(res.status).toBe(500);
      expect(await apiRow('nest-fail')).toMatchObject({
        status: 500,
        route: '/items/:id/fail',
        actor_id: '3',
        error: 'boom: handler failed',
      });
      expect((await changes('9')).map((row) => [row.actor_id, row.request_id])).toEqual([['3', 'nest-fail']]);
    });
  });
}
