import { createAuditrum, setPreparedStatementContext, withAuditContext } from '@auditrum/core';
import { useAdminRole, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeferredPayouts } from './deferred-payouts.js';

// Named statements with preparedStatements: 'setting': the statement stays prepared, its context travels as the
// transaction-local setting auditrum.context, and no context reaches a statement it was not sent with.
const db = useTestDatabase();
const app = useAppRole(db);
// A login role whose context is not trusted (not an application role), allowed to write the table.
const outsiderRole = useAdminRole(db);

interface Logged {
  note: string;
  actor_id: string | null;
  request_id: string | null;
  source: string | null;
  reason: string | null;
  claimed_actor: string | null;
}

async function logged(notes: string[]): Promise<Logged[]> {
  const { rows } = await db.pool.query<Logged>(
    `SELECT new_values ->> 'note' AS note, actor_id, request_id, context ->> 'source' AS source,
       context ->> 'reason' AS reason, context -> 'claimed' ->> 'actor_id' AS claimed_actor
     FROM auditrum.change_log WHERE table_name = 'items' AND new_values ->> 'note' = ANY($1) ORDER BY id`,
    [notes],
  );
  return rows;
}

const row = (note: string, actor: string | null, source: string | null, request: string | null = null) => ({
  note,
  actor_id: actor,
  request_id: request,
  source,
  reason: null,
  claimed_actor: null,
});

const named = (name: string, note: string, n = 1) => ({
  name,
  text: 'INSERT INTO items (note, n) VALUES ($1, $2) RETURNING id',
  values: [note, n],
});
const PLAIN = 'INSERT INTO items (note) VALUES ($1)';

let pool: pg.Pool;

beforeAll(async () => {
  const owner = app.openPool({ max: 1 });
  await owner.query('CREATE TABLE items (id serial PRIMARY KEY, note text NOT NULL, n int CHECK (n > 0))');
  await createAuditrum({ pool: db.pool, partitions: false }).track('items');
  await owner.query(
    `GRANT INSERT, SELECT ON items TO ${outsiderRole.name}; GRANT USAGE ON SEQUENCE items_id_seq TO ${outsiderRole.name}`,
  );
  pool = app.openPool({ max: 1 });
  createAuditrum({ pool, partitions: false, preparedStatements: 'setting' });
});

afterAll(() => setPreparedStatementContext('reparse'));

describe('a named statement keeps its name and its context', () => {
  it('is prepared once per connection and every execution records its own actor and request', async () => {
    const client = await pool.connect();
    try {
      for (const [actor, request] of [
        ['alice', 'req-a'],
        ['bob', 'req-b'],
        ['carol', 'req-c'],
      ] as const) {
        const result = await withAuditContext({ actor: { id: actor }, requestId: request }, () =>
          client.query(named('insert_item', `by ${actor}`)),
        );
        expect(result.rowCount).toBe(1);
        expect(result.rows[0]).toEqual({ id: expect.any(Number) });
      }
      // One plan kept under the name, its text without a comment, executed three times.
      const { rows } = await client.query(
        `SELECT statement, generic_plans + custom_plans AS executions FROM pg_prepared_statements
         WHERE name = 'insert_item'`,
      );
      expect(rows).toEqual([{ statement: named('x', '').text, executions: '3' }]);
    } finally {
      client.release();
    }
    expect(await logged(['by alice', 'by bob', 'by carol'])).toEqual([
      row('by alice', 'alice', 'app', 'req-a'),
      row('by bob', 'bob', 'app', 'req-b'),
      row('by carol', 'carol', 'app', 'req-c'),
    ]);
  });

  it('works through pool.query, with promises and with callbacks, and returns the rows', async () => {
    const viaPromise = await withAuditContext({ actor: { id: 'dora' }, reason: 'promised' }, () =>
      pool.query(named('insert_item', 'pool promise')),
    );
    expect(viaPromise.rows).toEqual([{ id: expect.any(Number) }]);
    const viaCallback = await withAuditContext(
      { actor: { id: 'eve' } },
      () =>
        new Promise<pg.QueryResult>((resolve, reject) => {
          // The callback form answers nothing (biome takes it for the promise form).
          void pool.query(named('insert_item', 'pool callback'), (error, result) =>
            error ? reject(error) : resolve(result),
          );
        }),
    );
    expect(viaCallback.rowCount).toBe(1);
    const logs = await logged(['pool promise', 'pool callback']);
    expect(logs).toEqual([
      { ...row('pool promise', 'dora', 'app'), reason: 'promised' },
      row('pool callback', 'eve', 'app'),
    ]);
  });

  it('on a pool of 1, queued named statements of two contexts and one of none each record their own', async () => {
    const writes = [
      withAuditContext({ actor: { id: 'first' } }, async () => {
        await pool.query('SELECT pg_sleep(0.05)');
        await pool.query(named('insert_item', 'queued first'));
      }),
      withAuditContext({ actor: { id: 'second' } }, () => pool.query(named('insert_item', 'queued second'))),
      pool.query(named('insert_item', 'queued none')),
      withAuditContext({ actor: { id: 'third' } }, () => pool.query(named('other_insert', 'queued third'))),
    ];
    await Promise.all(writes);
    const logs = await logged(['queued first', 'queued second', 'queued none', 'queued third']);
    expect(logs.sort((a, b) => a.note.localeCompare(b.note))).toEqual([
      row('queued first', 'first', 'app'),
      row('queued none', null, 'db'),
      row('queued second', 'second', 'app'),
      row('queued third', 'third', 'app'),
    ]);
  });
});

describe('on another copy of pg (pg-promise pins its own)', () => {
  it('a named statement keeps its name and each execution its context', async () => {
    const { default: pgPromise } = await import('pg-promise');
    const pgp = pgPromise();
    const database = pgp({ connectionString: app.url, max: 1 });
    try {
      for (const actor of ['copy-a', 'copy-b']) {
        await withAuditContext({ actor: { id: actor } }, () =>
          database.none(new pgp.PreparedStatement({ name: 'copy_insert', text: PLAIN, values: [`by ${actor}`] })),
        );
      }
      const prepared = await database.one(
        "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'copy_insert' AND statement = $1",
        [PLAIN],
      );
      expect(prepared).toEqual({ n: 1 });
    } finally {
      await pgp.end();
    }
    expect(await logged(['by copy-a', 'by copy-b'])).toEqual([
      row('by copy-a', 'copy-a', 'app'),
      row('by copy-b', 'copy-b', 'app'),
    ]);
  });
});

describe('the context reaches no other statement', () => {
  it('a later statement of the same transaction without a context, and the next transaction, record none', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await withAuditContext({ actor: { id: 'mallory-free' } }, () =>
        client.query(named('insert_item', 'in tx named')),
      );
      await client.query(PLAIN, ['in tx after']);
      await client.query('COMMIT');
      await client.query(PLAIN, ['next tx']);
      const { rows } = await client.query("SELECT current_setting('auditrum.context', true) AS value");
      expect(rows).toEqual([{ value: '' }]);
    } finally {
      client.release();
    }
    expect(await logged(['in tx named', 'in tx after', 'next tx'])).toEqual([
      row('in tx named', 'mallory-free', 'app'),
      row('in tx after', null, 'db'),
      row('next tx', null, 'db'),
    ]);
  });

  it("a connection's own context (SET auditrum.context, as auditrum exec gives) is back after the statement", async () => {
    const client = await pool.connect();
    try {
      await client.query(`SET auditrum.context = '{"actor_id":"script","source":"cli"}'`);
      await client.query('BEGIN');
      await withAuditContext({ actor: { id: 'request-user' } }, () =>
        client.query(named('insert_item', 'over session')),
      );
      await client.query(PLAIN, ['session again']);
      await client.query('COMMIT');
      await client.query(PLAIN, ['session after commit']);
      await client.query('RESET auditrum.context');
    } finally {
      client.release();
    }
    expect(await logged(['over session', 'session again', 'session after commit'])).toEqual([
      row('over session', 'request-user', 'app'),
      row('session again', 'script', 'cli'),
      row('session after commit', 'script', 'cli'),
    ]);
  });

  it('a named statement that fails leaves the connection usable and its context nowhere', async () => {
    const client = await pool.connect();
    try {
      // Rejected by the table (n > 0): the error reaches the caller, the name still works afterwards.
      await expect(
        withAuditContext({ actor: { id: 'failing' } }, () => client.query(named('insert_item', 'refused', -1))),
      ).rejects.toMatchObject({ code: '23514' });
      // A statement that does not parse, under a new name: the name can be used again once fixed.
      await expect(
        withAuditContext({ actor: { id: 'failing' } }, () =>
          client.query({ name: 'broken', text: 'INSERT INTO items (note VALUES ($1)', values: ['x'] }),
        ),
      ).rejects.toMatchObject({ code: '42601' });
      // Values pg cannot send fail before the server runs the statement, inside a transaction that goes on.
      await client.query('BEGIN');
      const unsendable = {
        toPostgres() {
          throw new Error('cannot send this value');
        },
      };
      await expect(
        withAuditContext({ actor: { id: 'failing' } }, () =>
          client.query({ name: 'insert_item', text: named('x', '').text, values: [unsendable, 1] }),
        ),
      ).rejects.toThrow('cannot send this value');
      await client.query(PLAIN, ['after unsendable']);
      await client.query('COMMIT');
      await withAuditContext({ actor: { id: 'recovered' } }, () => client.query(named('insert_item', 'after errors')));
    } finally {
      client.release();
    }
    expect(await logged(['refused', 'after unsendable', 'after errors'])).toEqual([
      row('after unsendable', null, 'db'),
      row('after errors', 'recovered', 'app'),
    ]);
  });
});

describe('outside a transaction block, the Sync ends the setting with the implicit transaction', () => {
  // A deferred constraint trigger runs at the commit, which for an autocommit statement of the extended protocol is
  // the Sync after it: the setting put back before that Sync recorded its writes without the statement's context.
  beforeAll(async () => {
    const owner = app.openPool({ max: 1 });
    try {
      await createDeferredPayouts(owner, 5);
    } finally {
      await owner.end();
    }
    await createAuditrum({ pool: db.pool, partitions: false }).track('public.accounts');
  });

  async function accountUpdates(): Promise<{ row_key: string; actor_id: string | null; source: string }[]> {
    const { rows } = await db.pool.query(
      `SELECT row_key, actor_id, context ->> 'source' AS source FROM auditrum.change_log
       WHERE table_name = 'accounts' AND operation = 'UPDATE' ORDER BY id`,
    );
    return rows;
  }

  it("a deferred trigger's writes at an autocommit named statement's Sync get its context, and nothing after it", async () => {
    // A connection of its own, on which no statement ran in a transaction block.
    const fresh = app.openPool({ max: 1 });
    const client = await fresh.connect();
    try {
      await withAuditContext({ actor: { id: 'payer-1' } }, () =>
        client.query({ name: 'pay', text: 'INSERT INTO payouts VALUES ($1)', values: [1] }),
      );
      await withAuditContext({ actor: { id: 'payer-2' } }, () =>
        client.query({ name: 'pay', text: 'INSERT INTO payouts VALUES ($1)', values: [2] }),
      );
      await client.query(PLAIN, ['after autocommit']);
      const { rows } = await client.query("SELECT current_setting('auditrum.context', true) AS value");
      expect(rows).toEqual([{ value: '' }]);
      // Outside a block the setting was never put back: the round trip had no `leave` statement.
      const prepared = await client.query(
        `SELECT name FROM pg_prepared_statements WHERE name LIKE 'auditrum_context_%' ORDER BY name`,
      );
      expect(prepared.rows).toEqual([{ name: 'auditrum_context_enter' }]);
    } finally {
      client.release();
      await fresh.end();
    }
    expect(await accountUpdates()).toEqual([
      { row_key: '1', actor_id: 'payer-1', source: 'app' },
      { row_key: '2', actor_id: 'payer-2', source: 'app' },
    ]);
    expect(await logged(['after autocommit'])).toEqual([row('after autocommit', null, 'db')]);
  });

  it('a pipelining client, whose transaction status may be stale, always puts the setting back', async () => {
    const pipelined = app.openPool({ max: 1, pipeline: true });
    try {
      const client = await pipelined.connect();
      try {
        // Sent together: when the named statement goes out, the status is still that of before BEGIN.
        const sent = [
          client.query('BEGIN'),
          withAuditContext({ actor: { id: 'piped' } }, () => client.query(named('insert_item', 'piped named'))),
          client.query(PLAIN, ['piped after']),
          client.query('COMMIT'),
        ];
        await Promise.all(sent);
      } finally {
        client.release();
      }
    } finally {
      await pipelined.end();
    }
    expect(await logged(['piped named', 'piped after'])).toEqual([
      row('piped named', 'piped', 'app'),
      row('piped after', null, 'db'),
    ]);
  });
});

describe("the capture function reads an application role's setting itself, as _settings_context() would", () => {
  // Each value as auditrum.context on a write without a comment: the stored actor, request and context must be
  // what migration 15's _settings_context() makes of it, whether the capture function reads it itself (a JSON
  // object within the limit) or leaves it to that function.
  const values = {
    object: '{"actor_id":"ann","request_id":"r-1","source":"app","reason":"why"}',
    'long ids': JSON.stringify({ actor_id: 'a'.repeat(300), request_id: 'r'.repeat(200) }),
    'number actor': '{"actor_id":42}',
    'empty object': '{}',
    'not JSON': '{"actor_id": "ann"',
    array: '[1,2]',
    'leading space': ' {"actor_id":"spaced"}',
    'over the limit': JSON.stringify({ actor_id: 'big', pad: 'x'.repeat(16400) }),
  };

  for (const [label, value] of Object.entries(values)) {
    it(label, async () => {
      const client = await pool.connect();
      let expected: unknown;
      try {
        await client.query('BEGIN');
        await client.query("SELECT set_config('auditrum.context', $1, true)", [value]);
        await client.query(PLAIN, [`setting ${label}`]);
        ({
          rows: [expected],
        } = await client.query(
          `SELECT auditrum._id_capped(c->>'actor_id', 256) AS actor_id, auditrum._id_capped(c->>'request_id', 128) AS request_id,
             c - '{actor_id,request_id}'::text[] AS context
           FROM (SELECT auditrum._settings_context(true) AS c) s`,
        ));
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      const { rows } = await db.pool.query(
        `SELECT actor_id, request_id, context FROM auditrum.change_log
         WHERE table_name = 'items' AND new_values ->> 'note' = $1`,
        [`setting ${label}`],
      );
      expect(rows).toEqual([expected]);
    });
  }

  it('the object case keeps its fields and lifts the ids (what the named statements rely on)', async () => {
    const { rows } = await db.pool.query(
      `SELECT actor_id, request_id, context FROM auditrum.change_log
       WHERE table_name = 'items' AND new_values ->> 'note' IN ('setting object', 'setting long ids') ORDER BY id`,
    );
    expect(rows).toEqual([
      { actor_id: 'ann', request_id: 'r-1', context: { source: 'app', reason: 'why' } },
      { actor_id: `${'a'.repeat(255)}…`, request_id: `${'r'.repeat(127)}…`, context: {} },
    ]);
  });
});

describe('trust and input', () => {
  it('a role that is not an application role has its context kept only as claimed', async () => {
    const outsider = outsiderRole.openPool({ max: 1 });
    await withAuditContext({ actor: { id: 'claimer' } }, () => outsider.query(named('insert_item', 'from outsider')));
    const [logs] = await logged(['from outsider']);
    expect(logs).toMatchObject({ note: 'from outsider', actor_id: null, source: 'db', claimed_actor: 'claimer' });
  });

  it('refuses an unknown mode, keeping the one in force', async () => {
    expect(() => setPreparedStatementContext('always' as never)).toThrow(
      'auditrum: preparedStatements must be one of reparse, setting; got "always"',
    );
    expect(() => createAuditrum({ pool, partitions: false, preparedStatements: '' as never })).toThrow(TypeError);
    await withAuditContext({ actor: { id: 'still-setting' } }, () => pool.query(named('insert_item', 'mode kept')));
    expect(await logged(['mode kept'])).toEqual([row('mode kept', 'still-setting', 'app')]);
    const { rows } = await pool.query(
      "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'insert_item'",
    );
    expect(rows).toEqual([{ n: 1 }]);
  });

  it('with reparse (the default) the name is dropped and the comment carries the context', async () => {
    setPreparedStatementContext('reparse');
    try {
      const client = await pool.connect();
      try {
        await withAuditContext({ actor: { id: 'commented' } }, () => client.query(named('comment_item', 'by comment')));
        const { rows } = await client.query(
          "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'comment_item'",
        );
        expect(rows).toEqual([{ n: 0 }]);
      } finally {
        client.release();
      }
    } finally {
      setPreparedStatementContext('setting');
    }
    expect(await logged(['by comment'])).toEqual([row('by comment', 'commented', 'app')]);
  });
});
