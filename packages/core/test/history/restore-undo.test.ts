import type { Auditrum } from '@auditrum/core';
import { createAuditrum, RestoreError, withAuditContext } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changesAfter, grantRestoreReader, lastChangeId, rowsAsText } from './restore-support.js';

// undo({ requestId } | { txid }): every row change of a request or transaction reversed, newest first, all or nothing.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let writer: pg.Pool;
let audit: Auditrum;

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  writer = role.openPool({ max: 2 });
  await grantRestoreReader(db.pool, role.name);
  await app.query('CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric NOT NULL)');
  const owner = createAuditrum({ pool: db.pool, partitions: false });
  await owner.track('public.accounts');
  await owner.close();
  audit = createAuditrum({ pool: app, partitions: false });
  await app.query(`INSERT INTO accounts SELECT i, 'owner ' || i, 100 FROM generate_series(1, 300) i`);
});
afterAll(async () => {
  await audit.close();
});

/** A request that changes 221 rows: updates 1..200, deletes ten rows from `deleteFrom`, inserts ten from `insertFrom`, then updates 1 again. */
async function bigRequest(requestId: string, deleteFrom: number, insertFrom: number): Promise<void> {
  await withAuditContext({ requestId, actor: { id: 'mallory' } }, async () => {
    await app.query('UPDATE accounts SET balance = balance - 10 WHERE id <= 200');
    await app.query('DELETE FROM accounts WHERE id BETWEEN $1 AND $1 + 9', [deleteFrom]);
    await app.query(`INSERT INTO accounts SELECT i, 'new ' || i, 5 FROM generate_series($1::int, $1 + 9) i`, [
      insertFrom,
    ]);
    await app.query(`UPDATE accounts SET owner = 'mallory', balance = 0 WHERE id = 1`);
  });
}

async function waitForLockWait(): Promise<void> {
  // Waits (no timing assertion) until a session of the test database waits for a row lock.
  for (;;) {
    const { rows } = await db.pool.query<{ waiting: number }>(
      `SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    if ((rows[0]?.waiting ?? 0) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('undo', () => {
  it('reverses a request of 221 row changes, newest first, each write naming the change it reverses', async () => {
    const before = await rowsAsText(app, 'accounts');
    await bigRequest('req-big', 201, 1001);
    const { rows: request } = await db.pool.query<{ id: string }>(
      `SELECT id::text AS id FROM auditrum.changes WHERE request_id = 'req-big' ORDER BY id`,
    );
    expect(request).toHaveLength(221);
    const mark = await lastChangeId(db.pool);

    const result = await audit.undo({ requestId: 'req-big' }, { reason: 'fraud #77', actor: { id: 'ops' } });

    expect(await rowsAsText(app, 'accounts')).toEqual(before);
    const written = await changesAfter(db.pool, mark);
    expect(written).toHaveLength(221);
    expect(written.map((change) => change.context.reverts)).toEqual([...request].reverse().map((r) => [r.id]));
    expect(
      new Set(written.map((c) => JSON.stringify([c.actor_id, c.request_id, c.context.source, c.context.reason]))),
    ).toEqual(new Set([JSON.stringify(['ops', result.requestId, 'restore', 'fraud #77'])]));
    expect(result.changeIds).toEqual(written.map((c) => c.id));
    // The undo is itself a request: undoing it brings the request's changes back.
    await audit.undo({ requestId: result.requestId as string }, { reason: 'undo the undo' });
    expect((await app.query(`SELECT owner, balance::text FROM accounts WHERE id = 1`)).rows).toEqual([
      { owner: 'mallory', balance: '0' },
    ]);
  });

  it('is all or nothing: one conflicting row refuses the whole undo, force reverses the rest too', async () => {
    const before150 = (await app.query<{ b: string }>('SELECT balance::text AS b FROM accounts WHERE id = 150')).rows[0]
      ?.b;
    await bigRequest('req-conflict', 211, 2001);
    await app.query('UPDATE accounts SET balance = 1234 WHERE id = 150');
    const after = await rowsAsText(app, 'accounts');
    const mark = await lastChangeId(db.pool);
    const error = (await audit
      .undo({ requestId: 'req-conflict' }, { reason: 'r' })
      .catch((e: unknown) => e)) as RestoreError;
    expect(error).toBeInstanceOf(RestoreError);
    expect(error.plan?.conflicts).toEqual([
      expect.objectContaining({
        kind: 'changed-since',
        rowKey: '150',
        columns: ['balance'],
        changeId: String(BigInt(mark)),
      }),
    ]);
    expect(error.plan?.statements).toHaveLength(221);
    expect(await rowsAsText(app, 'accounts')).toEqual(after);
    expect(await changesAfter(db.pool, mark)).toEqual([]);

    await audit.undo({ requestId: 'req-conflict' }, { reason: 'r', force: true });
    // Each row is back where the request found it: 150 had 1234 set after the request, and loses it.
    const { rows: balances } = await app.query<{ id: number; balance: string }>(
      `SELECT id, balance::text FROM accounts WHERE id IN (150, 151) ORDER BY id`,
    );
    expect(balances).toEqual([
      { id: 150, balance: before150 },
      { id: 151, balance: before150 },
    ]);
    expect((await app.query('SELECT count(*)::int AS n FROM accounts WHERE id BETWEEN 2001 AND 2010')).rows).toEqual([
      { n: 0 },
    ]);
  });

  it('rolls every write back when a statement fails midway (a CHECK added since refuses an old value)', async () => {
    await withAuditContext({ requestId: 'req-check' }, async () => {
      for (const id of [71, 72, 73]) await app.query('UPDATE accounts SET balance = 7 WHERE id = $1', [id]);
    });
    await app.query('ALTER TABLE accounts ADD CONSTRAINT no_old_71 CHECK (id <> 71 OR balance = 7)');
    try {
      const mark = await lastChangeId(db.pool);
      // Undone newest first: 73 and 72 are written, then 71 fails.
      await expect(audit.undo({ requestId: 'req-check' }, { reason: 'r' })).rejects.toThrow('no_old_71');
      const { rows } = await app.query('SELECT id, balance::text FROM accounts WHERE id IN (71, 72, 73) ORDER BY id');
      expect(rows).toEqual([71, 72, 73].map((id) => ({ id, balance: '7' })));
      expect(await changesAfter(db.pool, mark)).toEqual([]);
    } finally {
      await app.query('ALTER TABLE accounts DROP CONSTRAINT no_old_71');
    }
  });

  it('reports the statement that failed among many sent at once, not the aborted ones after it; the connection is reusable', async () => {
    const single = role.openPool({ max: 1 });
    const small = createAuditrum({ pool: single, partitions: false });
    await withAuditContext({ requestId: 'req-pipelined' }, () =>
      single.query('UPDATE accounts SET balance = 8 WHERE id BETWEEN 231 AND 280'),
    );
    await app.query('ALTER TABLE accounts ADD CONSTRAINT no_old_250 CHECK (id <> 250 OR balance = 8)');
    try {
      const mark = await lastChangeId(db.pool);
      // Fifty statements; the one for row 250 fails and the transaction is aborted for those after it.
      const error = await small.undo({ requestId: 'req-pipelined' }, { reason: 'r' }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: '23514', constraint: 'no_old_250' });
      expect(await changesAfter(db.pool, mark)).toEqual([]);
      const { rows } = await app.query<{ balance: string }>(
        'SELECT DISTINCT balance::text AS balance FROM accounts WHERE id BETWEEN 231 AND 280',
      );
      expect(rows).toEqual([{ balance: '8' }]);
      // The pool's one connection answers queries one by one again, outside any transaction.
      const client = await single.connect();
      try {
        expect((client as unknown as { pipeline?: boolean }).pipeline).not.toBe(true);
        const [first, second] = await Promise.all([
          client.query<{ n: number }>('SELECT 1 AS n'),
          client.query<{ status: string }>(`SELECT CASE WHEN now() = statement_timestamp() THEN 'idle' END AS status`),
        ]);
        expect([first.rows, second.rows]).toEqual([[{ n: 1 }], [{ status: 'idle' }]]);
      } finally {
        client.release();
      }
    } finally {
      await app.query('ALTER TABLE accounts DROP CONSTRAINT no_old_250');
      await small.close();
      await single.end();
    }
  });

  it('refuses, without overriding it, a write committed while it waited for the row lock (no lost update)', async () => {
    await withAuditContext({ requestId: 'req-race-1' }, () =>
      app.query('UPDATE accounts SET balance = 1 WHERE id = 20'),
    );
    const concurrent = await writer.connect();
    try {
      await concurrent.query('BEGIN');
      await concurrent.query('UPDATE accounts SET balance = 999 WHERE id = 20');
      const undo = audit.undo({ requestId: 'req-race-1' }, { reason: 'race' }).catch((e: unknown) => e);
      await waitForLockWait();
      await concurrent.query('COMMIT');
      const error = (await undo) as RestoreError;
      expect(error).toBeInstanceOf(RestoreError);
      expect(error.kind).toBe('conflict');
      expect(error.message).toMatch(/accounts 20: change #\d+ \(later than #\d+\) changed balance/);
    } finally {
      concurrent.release();
    }
    expect((await app.query('SELECT balance::text FROM accounts WHERE id = 20')).rows).toEqual([{ balance: '999' }]);
  });

  it('keeps a write that waited for its lock: it lands after the undo, recorded after it', async () => {
    const before30 = (await app.query<{ b: string }>('SELECT balance::text AS b FROM accounts WHERE id = 30')).rows[0]
      ?.b;
    const before31 = (await app.query<{ b: string }>('SELECT balance::text AS b FROM accounts WHERE id = 31')).rows[0]
      ?.b;
    await withAuditContext({ requestId: 'req-race-2' }, () =>
      app.query('UPDATE accounts SET balance = 2 WHERE id IN (30, 31)'),
    );
    // A third session holds row 31 (no change): the undo locks 30, then waits for 31.
    const holder = await writer.connect();
    const concurrent = await db.openPool({ connectionString: role.url, max: 1 }).connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM accounts WHERE id = 31 FOR UPDATE');
      const undo = audit.undo({ requestId: 'req-race-2' }, { reason: 'race' });
      await waitForLockWait();
      // The writer now waits for the undo's lock on row 30.
      const write = concurrent.query('UPDATE accounts SET balance = 777 WHERE id = 30');
      for (;;) {
        const { rows } = await db.pool.query<{ waiting: number }>(
          `SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        if ((rows[0]?.waiting ?? 0) >= 2) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await holder.query('ROLLBACK');
      const result = await undo;
      await write;
      expect(result.applied).toBe(true);
    } finally {
      holder.release();
      concurrent.release();
    }
    expect((await app.query('SELECT id, balance::text FROM accounts WHERE id IN (30, 31) ORDER BY id')).rows).toEqual([
      { id: 30, balance: '777' },
      { id: 31, balance: before31 },
    ]);
    const { rows } = await db.pool.query<{ source: string; new_values: unknown }>(
      `SELECT context->>'source' AS source, new_values FROM auditrum.change_log WHERE row_key = '30' ORDER BY id DESC LIMIT 2`,
    );
    expect(rows).toEqual([
      { source: 'db', new_values: { balance: 777 } },
      { source: 'restore', new_values: { balance: Number(before30) } },
    ]);
  });

  it('follows a key changed inside the request: the row gets its key back, then its values', async () => {
    const before = await rowsAsText(app, 'accounts', 'id IN (60, 6000)');
    await withAuditContext({ requestId: 'req-key' }, async () => {
      await app.query('UPDATE accounts SET balance = 61 WHERE id = 60');
      await app.query('UPDATE accounts SET id = 6000 WHERE id = 60');
      await app.query(`UPDATE accounts SET owner = 'moved' WHERE id = 6000`);
    });
    const result = await audit.undo({ requestId: 'req-key' }, { reason: 'r' });
    expect(result.plan.statements.map((s) => [s.rowKey, Object.keys(JSON.parse(s.params[0] ?? '{}'))])).toEqual([
      ['6000', ['owner']],
      ['6000', ['id']],
      ['60', ['balance']],
    ]);
    expect(await rowsAsText(app, 'accounts', 'id IN (60, 6000)')).toEqual(before);
  });

  it("two undos of the same rows at once: the later request's undo is written, the other refused as a conflict", async () => {
    const ids = [80, 81, 82, 83, 84, 85, 86, 87, 88, 89];
    await withAuditContext({ requestId: 'req-up' }, async () => {
      for (const id of ids) await app.query('UPDATE accounts SET owner = $2 WHERE id = $1', [id, `up ${id}`]);
    });
    const before = await rowsAsText(app, 'accounts', 'id BETWEEN 80 AND 89');
    await withAuditContext({ requestId: 'req-down' }, async () => {
      for (const id of [...ids].reverse())
        await app.query('UPDATE accounts SET owner = $2 WHERE id = $1', [id, `down ${id}`]);
    });
    // Planned newest first, the two write these rows in opposite orders; both lock them in key order first.
    const [up, down] = await Promise.allSettled([
      audit.undo({ requestId: 'req-up' }, { reason: 'r' }),
      audit.undo({ requestId: 'req-down' }, { reason: 'r' }),
    ]);
    expect(up).toMatchObject({ status: 'rejected', reason: { kind: 'conflict' } });
    expect(down).toMatchObject({ status: 'fulfilled', value: { applied: true } });
    expect(await rowsAsText(app, 'accounts', 'id BETWEEN 80 AND 89')).toEqual(before);
  });

  it('refuses a request that changed a table dropped since, naming it, and changes nothing', async () => {
    await app.query('CREATE TABLE scratch (id int PRIMARY KEY)');
    const owner = createAuditrum({ pool: db.pool, partitions: false });
    await owner.track('public.scratch');
    await owner.close();
    await withAuditContext({ requestId: 'req-dropped' }, async () => {
      await app.query('INSERT INTO scratch VALUES (1)');
      await app.query('UPDATE accounts SET balance = 3 WHERE id = 90');
    });
    await app.query('DROP TABLE scratch');
    const mark = await lastChangeId(db.pool);
    await expect(audit.undo({ requestId: 'req-dropped' }, { reason: 'r' })).rejects.toThrow(
      'table public.scratch no longer exists: there is no row to restore into',
    );
    expect(await changesAfter(db.pool, mark)).toEqual([]);
    expect((await app.query('SELECT balance::text FROM accounts WHERE id = 90')).rows).toEqual([{ balance: '3' }]);
  });

  it('writes nothing when its connection is killed midway, and the next undo works', async () => {
    await withAuditContext({ requestId: 'req-killed' }, () =>
      app.query('UPDATE accounts SET balance = 5 WHERE id IN (97, 98)'),
    );
    const holder = await writer.connect();
    const mark = await lastChangeId(db.pool);
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM accounts WHERE id = 98 FOR UPDATE');
      const undo = audit.undo({ requestId: 'req-killed' }, { reason: 'r' }).catch((e: unknown) => e);
      await waitForLockWait();
      await db.pool.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      expect(await undo).toBeInstanceOf(Error);
      await holder.query('ROLLBACK');
    } finally {
      holder.release();
    }
    expect(await changesAfter(db.pool, mark)).toEqual([]);
    expect((await app.query('SELECT balance::text FROM accounts WHERE id IN (97, 98)')).rows).toEqual([
      { balance: '5' },
      { balance: '5' },
    ]);
    await expect(audit.undo({ requestId: 'req-killed' }, { reason: 'r' })).resolves.toMatchObject({ applied: true });
  });

  it('runs on a pool of one connection, with other work queued behind it', async () => {
    const single = role.openPool({ max: 1 });
    const small = createAuditrum({ pool: single, partitions: false });
    try {
      await withAuditContext({ requestId: 'req-single' }, () =>
        single.query('UPDATE accounts SET balance = 4 WHERE id IN (95, 96)'),
      );
      const [dry, queued, done] = await Promise.all([
        small.undo({ requestId: 'req-single' }, { dryRun: true }),
        single.query<{ one: number }>('SELECT 1 AS one'),
        small.undo({ requestId: 'req-single' }, { reason: 'r' }),
      ]);
      expect([dry.plan.statements.length, queued.rows, done.changeIds.length]).toEqual([2, [{ one: 1 }], 2]);
    } finally {
      await small.close();
      await single.end();
    }
  });

  it('undoes a transaction by its txid', async () => {
    const client = await app.connect();
    let txid: string;
    try {
      await client.query('BEGIN');
      await client.query(`UPDATE accounts SET owner = 'tx' WHERE id IN (40, 41)`);
      txid = (await client.query<{ txid: string }>('SELECT txid_current()::text AS txid')).rows[0]?.txid ?? '';
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const result = await audit.undo({ txid }, { reason: 'r' });
    expect(result.plan.statements.map((s) => s.rowKey).sort()).toEqual(['40', '41']);
    expect((await app.query('SELECT owner FROM accounts WHERE id IN (40, 41) ORDER BY id')).rows).toEqual([
      { owner: 'owner 40' },
      { owner: 'owner 41' },
    ]);
  });

  it.each([
    [{}, 'give either a request id or a transaction id'],
    [{ requestId: 'a', txid: 1 }, 'give either a request id or a transaction id'],
    [{ requestId: '' }, 'the request id to undo must be a non-empty string'],
    [{ requestId: 'no-such-request' }, 'no change of request "no-such-request" is recorded'],
    [{ txid: 'abc' }, 'the transaction id "abc" is not one (digits, or digits@boundary for a restored one)'],
    [{ txid: '1 OR 1=1' }, 'is not one'],
    [{ txid: '1@0' }, 'is not one'],
    [{ txid: 1 }, 'no change of transaction 1 is recorded'],
  ])('refuses %j with a clear error and changes nothing', async (target, message) => {
    const mark = await lastChangeId(db.pool);
    await expect(audit.undo(target as { requestId: string }, { reason: 'r' })).rejects.toThrow(message);
    expect(await changesAfter(db.pool, mark)).toEqual([]);
  });
});
