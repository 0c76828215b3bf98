import { createAuditrum, withAuditContext } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeferredPayouts } from './deferred-payouts.js';

// A deferred constraint trigger runs when its transaction commits (or at SET CONSTRAINTS … IMMEDIATE), and its writes
// belong to the transaction's context. COMMIT went without the context comment, and an autocommit statement with
// parameters commits at the extended protocol's Sync, when current_query() is NULL: both were recorded as the
// database role's, with no actor.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;

interface Attributed {
  row_key: string;
  actor_id: string | null;
  request_id: string | null;
  context: Record<string, unknown>;
}

type End = 'COMMIT' | 'commit' | 'END' | 'SET CONSTRAINTS ALL IMMEDIATE' | 'autocommit' | 'autocommit, simple';

/** Inserts payout `id` (whose deferred trigger updates account `id`) in a context of its own, ended by `end`. */
function pay(id: number, end: End): Promise<unknown> {
  return withAuditContext({ actor: { id: `actor-${id}` }, requestId: `req-${id}` }, async () => {
    if (end === 'autocommit') return app.query('INSERT INTO payouts VALUES ($1)', [id]);
    if (end === 'autocommit, simple') return app.query(`INSERT INTO payouts VALUES (${id})`);
    const client = await app.connect();
    try {
      await client.query('BEGIN');
      await client.query('INSERT INTO payouts VALUES ($1)', [id]);
      await client.query(end);
      if (end.startsWith('SET')) await client.query('COMMIT');
    } finally {
      client.release();
    }
  });
}

async function accountChanges(): Promise<Attributed[]> {
  const { rows } = await db.pool.query<Attributed>(
    `SELECT row_key, actor_id, request_id, context FROM auditrum.change_log
     WHERE table_name = 'accounts' AND operation = 'UPDATE' ORDER BY id`,
  );
  return rows;
}

beforeAll(async () => {
  app = role.openPool({ max: 1 });
  createAuditrum({ pool: app, partitions: false });
  await createDeferredPayouts(app, 20);
  await createAuditrum({ pool: db.pool, partitions: false }).track('public.accounts');
});
afterAll(() => app.end());

describe('writes of a deferred trigger', () => {
  it('are recorded under the context of the transaction that ran them', async () => {
    const ends: End[] = [
      'COMMIT',
      'commit',
      'END',
      'SET CONSTRAINTS ALL IMMEDIATE',
      'autocommit',
      'autocommit, simple',
    ];
    for (const [i, end] of ends.entries()) await pay(i + 1, end);
    const changes = await accountChanges();
    expect(changes.map((c) => [c.row_key, c.actor_id, c.request_id, c.context])).toEqual(
      ends.map((_, i) => [String(i + 1), `actor-${i + 1}`, `req-${i + 1}`, { source: 'app' }]),
    );
  });

  it('from a role that is not an application role keep its claim apart, as its statements do', async () => {
    await db.pool.query(`CREATE ROLE other_${db.name} LOGIN PASSWORD 'other-password'`);
    await db.pool.query(`GRANT SELECT, INSERT ON payouts TO other_${db.name}`);
    await app.query(`GRANT SELECT, UPDATE ON accounts, payouts TO other_${db.name}`);
    const url = new URL(db.url);
    url.username = `other_${db.name}`;
    url.password = 'other-password';
    const other = db.openPool({ connectionString: url.toString(), max: 1 });
    try {
      await other.query('/*auditrum:{"actor_id":"forged"}*/ INSERT INTO payouts VALUES ($1)', [20]);
    } finally {
      await other.end();
      await db.pool.query(`DROP OWNED BY other_${db.name}`);
      await db.pool.query(`DROP ROLE other_${db.name}`);
    }
    const last = (await accountChanges()).at(-1);
    expect(last).toMatchObject({
      row_key: '20',
      actor_id: null,
      context: { source: 'db', db_user: `other_${db.name}`, claimed: { actor_id: 'forged' } },
    });
  });
});
