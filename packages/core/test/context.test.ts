import { changeReason, createAuditrum, setAuditActor, withAuditContext, withChangeReason } from '@auditrum/core';
import { useTestDatabase } from '@auditrum/test-kit';
import { sql as drizzleSql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const db = useTestDatabase();

interface Attributed {
  row_key: string;
  actor_id: string | null;
  request_id: string | null;
  context: Record<string, unknown>;
}

async function changesOf(table: string): Promise<Attributed[]> {
  const { rows } = await db.pool.query<Attributed>(
    `SELECT row_key, actor_id, request_id, context FROM auditrum.change_log WHERE table_name = $1 ORDER BY id`,
    [table],
  );
  return rows;
}

describe('context from AsyncLocalStorage to the trigger', () => {
  let pool: pg.Pool;
  beforeAll(async () => {
    pool = db.openPool({ max: 2, application_name: 'context-test' });
    createAuditrum({ pool, partitions: false });
    await pool.query('CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL DEFAULT 0)');
    await pool.query('INSERT INTO accounts SELECT g FROM generate_series(1, 100) g');
    await createAuditrum({ pool, partitions: false }).track('accounts');
  });
  afterAll(() => pool.end());

  it('reaches single autocommit statements, with every field', async () => {
    await withAuditContext(
      {
        actor: { id: '42', label: 'alice' },
        reason: 'refund #981',
        source: 'http',
        requestId: 'req-1',
        method: 'POST',
        route: '/accounts/:id',
        ip: '10.0.0.1',
        userAgent: 'curl/8',
        meta: { tenant: 'acme' },
      },
      () => pool.query('UPDATE accounts SET balance = 5 WHERE id = 1'),
    );
    expect(await changesOf('accounts')).toEqual([
      {
        row_key: '1',
        actor_id: '42',
        request_id: 'req-1',
        context: {
          actor_label: 'alice',
          reason: 'refund #981',
          source: 'http',
          method: 'POST',
          route: '/accounts/:id',
          ip: '10.0.0.1',
          user_agent: 'curl/8',
          meta: { tenant: 'acme' },
        },
      },
    ]);
  });

  it('reaches explicit transactions, CTE writes, writes through functions and multi-row statements', async () => {
    await pool.query(
      `CREATE FUNCTION credit(account int) RETURNS void LANGUAGE sql AS $$ UPDATE accounts SET balance = balance + 1 WHERE id = account $$`,
    );
    await withAuditContext({ actor: { id: 'tx' }, requestId: 'req-2' }, async () => {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('UPDATE accounts SET balance = 10 WHERE id = 2');
        await client.query(
          'WITH moved AS (UPDATE accounts SET balance = 11 WHERE id = 3 RETURNING id) SELECT count(*) FROM moved',
        );
        await client.query('SELECT credit($1)', [4]);
        await client.query('UPDATE accounts SET balance = 12 WHERE id IN (5, 6)');
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    });
    const rows = (await changesOf('accounts')).filter((row) => row.request_id === 'req-2');
    expect(rows.map((row) => [row.row_key, row.actor_id])).toEqual([
      ['2', 'tx'],
      ['3', 'tx'],
      ['4', 'tx'],
      ['5', 'tx'],
      ['6', 'tx'],
    ]);
  });

  it('logs writes without app context with the database role, application_name and client address', async () => {
    await pool.query('UPDATE accounts SET balance = 99 WHERE id = 7');
    const [row] = (await changesOf('accounts')).filter((change) => change.row_key === '7');
    expect(row).toMatchObject({ actor_id: null, request_id: null });
    expect(row?.context).toMatchObject({ source: 'db', db_user: 'postgres', application_name: 'context-test' });
    expect(row?.context).toHaveProperty('client_addr');
  });

  it('never leaks between concurrent scopes on a pool of 2 connections', async () => {
    const ids = Array.from({ length: 60 }, (_, i) => 20 + (i % 40));
    await Promise.all(
      ids.map((id, i) =>
        withAuditContext({ actor: { id: `user-${i}` }, requestId: `leak-${i}` }, async () => {
          await new Promise((resolve) => setTimeout(resolve, i % 5));
          await pool.query('UPDATE accounts SET balance = balance + $2 WHERE id = $1', [id, i + 1]);
        }),
      ),
    );
    // Right after, on the same connections: no context.
    await pool.query('UPDATE accounts SET balance = -1 WHERE id = 99');
    await pool.query('UPDATE accounts SET balance = -1 WHERE id = 100');
    const rows = await changesOf('accounts');
    const leaks = rows.filter((row) => row.request_id?.startsWith('leak-'));
    expect(leaks).toHaveLength(60);
    for (const row of leaks) {
      expect(row.actor_id).toBe(`user-${row.request_id?.slice('leak-'.length)}`);
    }
    expect(rows.filter((row) => ['99', '100'].includes(row.row_key)).map((row) => row.actor_id)).toEqual([null, null]);
  });

  it('takes an actor known late, from a getter or setAuditActor(), and change reasons', async () => {
    let user: { id: string } | undefined;
    await withAuditContext({ actor: () => user, requestId: 'late' }, async () => {
      await pool.query('UPDATE accounts SET balance = 1 WHERE id = 8');
      setAuditActor({ id: 'after-auth', label: 'bob' });
      await pool.query('UPDATE accounts SET balance = 1 WHERE id = 9');
      await withChangeReason('chargeback', () => pool.query('UPDATE accounts SET balance = 1 WHERE id = 10'));
      const refund = changeReason('refund', (id: number) =>
        pool.query('UPDATE accounts SET balance = 2 WHERE id = $1', [id]),
      );
      await refund(11);
      user = { id: 'unused' };
    });
    const rows = (await changesOf('accounts')).filter((row) => row.request_id === 'late');
    expect(
      rows.map((row) => [row.row_key, row.actor_id, row.context.actor_label ?? null, row.context.reason ?? null]),
    ).toEqual([
      ['8', null, null, null],
      ['9', 'after-auth', 'bob', null],
      ['10', 'after-auth', 'bob', 'chargeback'],
      ['11', 'after-auth', 'bob', 'refund'],
    ]);
  });

  it('asks actor and route getters at each change: a user switched or logged out mid-scope is seen', async () => {
    let user: { id: string; label?: string } | undefined = { id: 'u1' };
    let route: string | undefined;
    await withAuditContext({ actor: () => user, route: () => route, requestId: 'getters' }, async () => {
      await pool.query('UPDATE accounts SET balance = 5 WHERE id = 13');
      route = '/accounts/:id';
      user = { id: 'u1', label: 'uma' };
      await pool.query('UPDATE accounts SET balance = 5 WHERE id = 14');
      await pool.query('UPDATE accounts SET balance = 6 WHERE id = 14');
      user = undefined;
      await pool.query('UPDATE accounts SET balance = 5 WHERE id = 15');
    });
    const rows = (await changesOf('accounts')).filter((row) => row.request_id === 'getters');
    expect(
      rows.map((row) => [row.row_key, row.actor_id, row.context.actor_label ?? null, row.context.route ?? null]),
    ).toEqual([
      ['13', 'u1', null, null],
      ['14', 'u1', 'uma', '/accounts/:id'],
      ['14', 'u1', 'uma', '/accounts/:id'],
      ['15', null, null, '/accounts/:id'],
    ]);
  });

  it('keeps hostile or oversized context values from breaking the statement or the comment', async () => {
    const reason = 'close */ the comment; /* open */ DROP TABLE accounts; -- \u0000 \ud800 é';
    await withAuditContext(
      {
        reason,
        actor: { id: 'x'.repeat(10_000) },
        meta: Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'y'.repeat(2000)])),
      },
      () => pool.query('UPDATE accounts SET balance = 3 WHERE id = 12'),
    );
    const [row] = (await changesOf('accounts')).filter((change) => change.row_key === '12');
    expect(row?.context.reason).toBe('close */ the comment; /* open */ DROP TABLE accounts; --  \ufffd é');
    expect(row?.actor_id).toHaveLength(256);
    expect(row?.context.meta).toEqual({ truncated: true });
    expect((await pool.query('SELECT count(*)::int AS n FROM accounts')).rows[0]).toEqual({ n: 100 });
  });

  it('never fails a write over a malformed or forged comment, and records it as without context', async () => {
    await pool.query('/*auditrum:{"actor_id": broken*/UPDATE accounts SET balance = 4 WHERE id = 61');
    await pool.query('/*auditrum:[1, 2]*/UPDATE accounts SET balance = 4 WHERE id = 62');
    // Valid JSON that jsonb still refuses: a NUL escape, a number beyond numeric, nesting deeper than the stack.
    await pool.query('/*auditrum:{"actor_id":"\\u0000"}*/UPDATE accounts SET balance = 4 WHERE id = 63');
    await pool.query('/*auditrum:{"n":1e999999}*/UPDATE accounts SET balance = 4 WHERE id = 64');
    await pool.query(
      `/*auditrum:${'['.repeat(8000)}${']'.repeat(8000)}*/UPDATE accounts SET balance = 4 WHERE id = 65`,
    );
    await pool.query(`/*auditrum:{"actor_id":"${'x'.repeat(20_000)}"}*/UPDATE accounts SET balance = 4 WHERE id = 66`);
    const keys = ['61', '62', '63', '64', '65', '66'];
    const rows = (await changesOf('accounts')).filter((row) => keys.includes(row.row_key));
    expect(rows.map((row) => [row.row_key, row.actor_id, row.context.source])).toEqual(
      keys.map((key) => [key, null, 'db']),
    );
  });

  it('keeps working with named prepared statements', async () => {
    for (const actor of ['p1', 'p2']) {
      await withAuditContext({ actor: { id: actor }, requestId: 'prepared' }, () =>
        pool.query({
          name: 'credit-13',
          text: 'UPDATE accounts SET balance = balance + 1 WHERE id = $1',
          values: [13],
        }),
      );
    }
    const rows = (await changesOf('accounts')).filter((row) => row.request_id === 'prepared');
    expect(rows.map((row) => row.actor_id)).toEqual(['p1', 'p2']);
  });

  it('runs a named pg.Query object in a second context on the same connection (as an unnamed statement)', async () => {
    const client = await pool.connect();
    try {
      for (const actor of ['q1', 'q2']) {
        await withAuditContext({ actor: { id: actor }, requestId: 'prepared-query' }, () => {
          const query = new pg.Query({
            name: 'credit-19',
            text: 'UPDATE accounts SET balance = balance + 1 WHERE id = $1',
            values: [19],
          });
          return new Promise<void>((resolve, reject) => {
            query.on('end', () => resolve());
            query.on('error', reject);
            client.query(query);
          });
        });
      }
    } finally {
      client.release();
    }
    const rows = (await changesOf('accounts')).filter((row) => row.request_id === 'prepared-query');
    expect(rows.map((row) => [row.row_key, row.actor_id])).toEqual([
      ['19', 'q1'],
      ['19', 'q2'],
    ]);
  });

  it('reaches the triggers through Kysely and Drizzle without changing their queries', async () => {
    const kysely = new Kysely<{ accounts: { id: number; balance: number } }>({
      dialect: new PostgresDialect({ pool }),
    });
    const orm = drizzle(pool);
    await withAuditContext({ actor: { id: 'kysely' }, requestId: 'orm-1' }, async () => {
      await kysely.updateTable('accounts').set({ balance: 50 }).where('id', '=', 14).execute();
      await kysely.transaction().execute(async (trx) => {
        await trx.updateTable('accounts').set({ balance: 51 }).where('id', '=', 15).execute();
        await sql`UPDATE accounts SET balance = 52 WHERE id = 16`.execute(trx);
      });
    });
    await withAuditContext({ actor: { id: 'drizzle' }, requestId: 'orm-2' }, async () => {
      await orm.execute(drizzleSql`UPDATE accounts SET balance = 60 WHERE id = 17`);
      await orm.transaction(async (tx) => {
        await tx.execute(drizzleSql`UPDATE accounts SET balance = 61 WHERE id = 18`);
      });
    });
    const rows = (await changesOf('accounts')).filter((row) => row.request_id?.startsWith('orm-'));
    expect(rows.map((row) => [row.row_key, row.actor_id])).toEqual([
      ['14', 'kysely'],
      ['15', 'kysely'],
      ['16', 'kysely'],
      ['17', 'drizzle'],
      ['18', 'drizzle'],
    ]);
  });

  it('audits an application role that has no right to write the audit tables', async () => {
    await db.pool.query(`CREATE ROLE app_${db.name} LOGIN PASSWORD 'app-password'`);
    await db.pool.query(`GRANT SELECT, UPDATE ON accounts TO app_${db.name}`);
    await db.pool.query(`SELECT auditrum.add_application_role('app_${db.name}')`);
    const url = new URL(db.url);
    url.username = `app_${db.name}`;
    url.password = 'app-password';
    const appPool = db.openPool({ connectionString: url.toString(), max: 1 });
    createAuditrum({ pool: appPool, partitions: false });
    try {
      await withAuditContext({ actor: { id: 'app-role' }, requestId: 'role' }, () =>
        appPool.query('UPDATE accounts SET balance = 7 WHERE id = 19'),
      );
      await expect(
        appPool.query(`INSERT INTO auditrum.changes (table_id, operation) VALUES (1, 'INSERT')`),
      ).rejects.toThrow('permission denied');
    } finally {
      await appPool.end();
      await db.pool.query(`SELECT auditrum.remove_application_role('app_${db.name}')`);
      await db.pool.query(`DROP OWNED BY app_${db.name}`);
      await db.pool.query(`DROP ROLE app_${db.name}`);
    }
    expect((await changesOf('accounts')).filter((row) => row.request_id === 'role').map((row) => row.actor_id)).toEqual(
      ['app-role'],
    );
  });
});
