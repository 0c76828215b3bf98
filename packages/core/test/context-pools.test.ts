import { createAuditrum, getAuditContext, setAuditActor, withAuditContext, withChangeReason } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';

// Each statement names, in the row it writes, the context its issuing code had: the audit row must agree.
const db = useTestDatabase();
const app = useAppRole(db);

interface Logged {
  note: string;
  actor_id: string | null;
  source: string | null;
}

async function logged(notes: string[]): Promise<Logged[]> {
  const { rows } = await db.pool.query<Logged>(
    `SELECT new_values ->> 'note' AS note, actor_id, context ->> 'source' AS source
     FROM auditrum.change_log WHERE table_name = 'items' AND new_values ->> 'note' = ANY($1) ORDER BY id`,
    [notes],
  );
  return rows;
}

const INSERT = 'INSERT INTO items (note) VALUES ($1)';
const insert = (note: string) => ({ text: INSERT, values: [note] });

beforeAll(async () => {
  const owner = app.openPool({ max: 1 });
  await owner.query('CREATE TABLE items (id serial PRIMARY KEY, note text NOT NULL, n int CHECK (n > 0))');
  await createAuditrum({ pool: db.pool, partitions: false }).track('items');
});

describe('a statement carries the context of the code that issued it, whatever the pool does', () => {
  let pool: pg.Pool;
  beforeAll(() => {
    pool = app.openPool({ max: 1 });
    createAuditrum({ pool, partitions: false });
  });

  it('a write outside any scope, queued behind a scoped request on a pool of 1, has no actor', async () => {
    const a = withAuditContext({ actor: { id: 'alice' } }, () => pool.query('SELECT pg_sleep(0.05)'));
    const b = pool.query(insert('cron job'));
    await Promise.all([a, b]);
    expect(await logged(['cron job'])).toEqual([{ note: 'cron job', actor_id: null, source: 'db' }]);
  });

  it('callback-style pool.connect() and pool.query() queued behind a scope run in their own (empty) context', async () => {
    const holder = withAuditContext({ actor: { id: 'holder' } }, () => pool.query('SELECT pg_sleep(0.05)'));
    const viaConnect = new Promise<void>((resolve, reject) => {
      pool.connect((error, client, release) => {
        if (error || !client) return reject(error);
        client.query(INSERT, ['connect callback'], (queryError) => {
          release();
          return queryError ? reject(queryError) : resolve();
        });
      });
    });
    const viaQuery = new Promise<void>((resolve, reject) => {
      pool.query(INSERT, ['query callback'], (error) => (error ? reject(error) : resolve()));
    });
    await Promise.all([holder, viaConnect, viaQuery]);
    expect(await logged(['connect callback', 'query callback'])).toEqual([
      { note: 'connect callback', actor_id: null, source: 'db' },
      { note: 'query callback', actor_id: null, source: 'db' },
    ]);
  });

  it("a scoped write queued behind a scope-less one carries its own actor, not nobody's or the releaser's", async () => {
    const holder = withAuditContext({ actor: { id: 'first' } }, () => pool.query('SELECT pg_sleep(0.05)'));
    const waiter = withAuditContext({ actor: { id: 'second' } }, async () => {
      const client = await pool.connect();
      try {
        await client.query(insert('promise connect'));
      } finally {
        client.release();
      }
    });
    const third = withAuditContext({ actor: { id: 'third' } }, () => pool.query(insert('third')));
    await Promise.all([holder, waiter, third]);
    expect(await logged(['promise connect', 'third'])).toEqual([
      { note: 'promise connect', actor_id: 'second', source: 'app' },
      { note: 'third', actor_id: 'third', source: 'app' },
    ]);
  });

  it('statements sent from a query callback carry the scope of the code that gave the callback', async () => {
    // The connection was opened by 'opener': pg calls callbacks from its socket, in the opener's context.
    const other = app.openPool({ max: 1 });
    await withAuditContext({ actor: { id: 'opener' } }, () => other.query('SELECT 1'));
    const nested = (note: string) =>
      new Promise<void>((resolve, reject) => {
        other.query('SELECT 1', [], (error) => {
          if (error) return reject(error);
          other.query(INSERT, [note], (insertError) => (insertError ? reject(insertError) : resolve()));
        });
      });
    await nested('nested without scope');
    await withAuditContext({ actor: { id: 'nester' } }, () => nested('nested in scope'));
    await other.end();
    expect(await logged(['nested without scope', 'nested in scope'])).toEqual([
      { note: 'nested without scope', actor_id: null, source: 'db' },
      { note: 'nested in scope', actor_id: 'nester', source: 'app' },
    ]);
  });

  it('the events of a client connected inside a scope do not run in that scope', async () => {
    const client = new pg.Client({ connectionString: app.url });
    client.on('error', () => undefined);
    await withAuditContext({ actor: { id: 'connector' } }, () => client.connect());
    try {
      // A Query used as a submittable: its 'end' event comes from the socket, and the INSERT sent there is
      // issued by code outside any scope.
      await new Promise<void>((resolve, reject) => {
        const query = client.query(new pg.Query('SELECT 1'));
        query.on('error', reject);
        query.on('end', () => {
          client.query(insert('sent from an event')).then(() => resolve(), reject);
        });
      });
    } finally {
      await client.end();
    }
    expect(await logged(['sent from an event'])).toEqual([
      { note: 'sent from an event', actor_id: null, source: 'db' },
    ]);
  });

  it("a pool's connect hooks work in no request's context, even for a queued request", async () => {
    let hooks = 0;
    // onConnect is awaited before the connection is handed out; a 'connect' listener is not (pg then queues
    // the caller's statement behind the listener's), so the listener only counts.
    const hooked = app.openPool({
      max: 1,
      onConnect: async (client) => {
        hooks += 1;
        await client.query(insert(`connect hook ${hooks}`));
      },
    });
    hooked.on('connect', (client) => {
      client.query(insert(`connect listener ${hooks}`)).catch(() => undefined);
    });
    // The first connection is opened for a scoped caller; it fails and is removed, so the queued scoped waiter
    // gets a new connection opened from inside the failing one's clean-up.
    const failing = withAuditContext({ actor: { id: 'opener' } }, () =>
      hooked.query('SELECT pg_terminate_backend(pg_backend_pid())').catch(() => 'terminated'),
    );
    const waiting = withAuditContext({ actor: { id: 'waiter' } }, () => hooked.query(insert('after reconnect')));
    expect(await failing).toBe('terminated');
    await waiting;
    await hooked.query('SELECT 1');
    await hooked.end();
    expect(hooks).toBe(2);
    const notes = ['connect hook 1', 'connect listener 1', 'connect hook 2', 'connect listener 2', 'after reconnect'];
    expect(await logged(notes)).toEqual([
      { note: 'connect hook 1', actor_id: null, source: 'db' },
      { note: 'connect listener 1', actor_id: null, source: 'db' },
      { note: 'connect hook 2', actor_id: null, source: 'db' },
      { note: 'connect listener 2', actor_id: null, source: 'db' },
      { note: 'after reconnect', actor_id: 'waiter', source: 'app' },
    ]);
  });

  it('a failed statement and a failed connect leave no context behind for the next caller', async () => {
    const failed = withAuditContext({ actor: { id: 'failing' } }, () =>
      pool.query('INSERT INTO items (note, n) VALUES ($1, -1)', ['refused']),
    );
    const next = pool.query(insert('after failure'));
    await expect(failed).rejects.toThrow('items_n_check');
    await next;
    const missing = new URL(app.url);
    missing.pathname = '/no_such_database';
    const unreachable = db.openPool({ connectionString: missing.toString(), max: 1 });
    await expect(withAuditContext({ actor: { id: 'x' } }, () => unreachable.query('SELECT 1'))).rejects.toThrow(
      'does not exist',
    );
    await pool.query(insert('after failed connect'));
    expect(await logged(['refused', 'after failure', 'after failed connect'])).toEqual([
      { note: 'after failure', actor_id: null, source: 'db' },
      { note: 'after failed connect', actor_id: null, source: 'db' },
    ]);
  });
});

describe('the pool createAuditrum() opens itself', () => {
  it('survives its idle connection being terminated, and goes on with a new one', async () => {
    const audit = createAuditrum({ connectionString: app.url, partitions: false });
    await audit.pool.query('SELECT 1');
    await db.pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND state = 'idle' AND pid <> pg_backend_pid()`,
      [app.name],
    );
    while (audit.pool.totalCount > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await withAuditContext({ actor: { id: 'after restart' } }, () => audit.pool.query(insert('own pool')));
    await audit.close();
    expect(await logged(['own pool'])).toEqual([{ note: 'own pool', actor_id: 'after restart', source: 'app' }]);
  });
});

describe('context that used to be lost without a word', () => {
  let pool: pg.Pool;
  beforeAll(() => {
    pool = app.openPool({ max: 2 });
    createAuditrum({ pool, partitions: false });
  });

  it('awaits a lazy thenable returned by the callback (a Drizzle builder) inside the context', async () => {
    const orm = drizzle(pool);
    const items = pgTable('items', { id: integer('id'), note: text('note').notNull() });
    await pool.query(insert('lazy'));
    const updated = await withAuditContext({ actor: { id: 'lazy-builder' } }, () =>
      orm.update(items).set({ note: 'lazy, updated' }).where(eq(items.note, 'lazy')).returning({ note: items.note }),
    );
    expect(updated).toEqual([{ note: 'lazy, updated' }]);
    const { rows } = await db.pool.query(
      `SELECT actor_id FROM auditrum.change_log WHERE table_name = 'items' AND operation = 'UPDATE'
         AND new_values ->> 'note' = 'lazy, updated'`,
    );
    expect(rows).toEqual([{ actor_id: 'lazy-builder' }]);
  });

  it('starts any thenable in the scope, keeps sync results sync and returns a running promise as it is', async () => {
    let seen: string | undefined;
    const lazy = {
      // biome-ignore lint/suspicious/noThenProperty: a lazy thenable, as query builders are, is the subject here
      then(resolve: (value: string) => void) {
        seen = getAuditContext()?.actor?.id;
        resolve('done');
      },
    };
    const result = withAuditContext({ actor: { id: 'thenable' } }, () => lazy);
    expect(result).toBeInstanceOf(Promise);
    expect(await result).toBe('done');
    expect(seen).toBe('thenable');
    expect(withAuditContext({ actor: { id: 'sync' } }, () => 42)).toBe(42);
    const running = Promise.resolve('running');
    expect(withAuditContext({}, () => running)).toBe(running);
    const rejecting = {
      // biome-ignore lint/suspicious/noThenProperty: a lazy thenable that fails
      then: (_: unknown, reject: (error: Error) => void) => reject(new Error('refused')),
    };
    await expect(withChangeReason('why', () => rejecting)).rejects.toThrow('refused');
  });

  it('takes null from an actor or route getter (req.user ?? null) as no actor or route, and never fails the write', async () => {
    await withAuditContext({ actor: () => null, route: () => null, source: 'http' }, () =>
      pool.query(insert('null getter')),
    );
    await withAuditContext({ actor: null }, async () => {
      await pool.query(insert('null actor'));
      setAuditActor({ id: 'later' });
      await pool.query(insert('actor set'));
      setAuditActor(null);
      await pool.query(insert('actor cleared'));
    });
    const rows = await logged(['null getter', 'null actor', 'actor set', 'actor cleared']);
    expect(rows).toEqual([
      { note: 'null getter', actor_id: null, source: 'http' },
      { note: 'null actor', actor_id: null, source: 'app' },
      { note: 'actor set', actor_id: 'later', source: 'app' },
      { note: 'actor cleared', actor_id: null, source: 'app' },
    ]);
  });
});
