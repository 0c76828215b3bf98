import { createAuditrum, withAuditContext, withChangeReason } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { beforeAll, expect, it } from 'vitest';

/*
 * Property: whatever the pool does (queued acquires on pools of 1 and 2, connections handed over on release,
 * failed connects, connections killed while idle, failing statements, transactions rolled back), every audit row
 * carries exactly the context of the code that issued its statement. Each run is a random schedule drawn from
 * a seed: concurrent lanes of operations, each in a random scope (or none), with random small awaits between
 * and inside them. Each INSERT writes into its row the actor and request id its code had; the audit rows must
 * agree, all of them.
 *
 * AUDITRUM_INTERLEAVING_RUNS=20000 runs more schedules; AUDITRUM_INTERLEAVING_SEED=n replays from seed n.
 */
const RUNS = Number(process.env.AUDITRUM_INTERLEAVING_RUNS ?? 250);
const FIRST_SEED = Number(process.env.AUDITRUM_INTERLEAVING_SEED ?? 1);

const db = useTestDatabase();
const app = useAppRole(db);

beforeAll(async () => {
  const owner = app.openPool({ max: 1 });
  await owner.query(`CREATE TABLE ledger (
    id serial PRIMARY KEY, note text NOT NULL, expected_actor text, expected_request text, n int CHECK (n > 0))`);
  await createAuditrum({ pool: db.pool, partitions: false }).track('ledger');
});

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Pick = <T>(items: readonly T[]) => T;

const OPERATIONS = [
  'pool.query',
  'pool.query callback',
  'connect promise',
  'connect callback',
  'transaction',
  'transaction rolled back',
  'failing statement',
  'lazy thenable',
  'kill idle connections',
] as const;
type Operation = (typeof OPERATIONS)[number];

const SCOPES = ['none', 'none', 'actor', 'actor', 'getter', 'null actor', 'nested reason'] as const;
type ScopeKind = (typeof SCOPES)[number];

/** What the issuing code knows about itself, written into the row it inserts. */
interface Expected {
  actor: string | null;
  request: string | null;
}

interface Counters {
  operations: number;
  failed: number;
}

const INSERT = 'INSERT INTO ledger (note, expected_actor, expected_request) VALUES ($1, $2, $3)';
const FAILING = 'INSERT INTO ledger (note, n) VALUES ($1, -1)';

function pause(pick: Pick): Promise<unknown> | undefined {
  switch (pick(['none', 'microtask', 'immediate', 'timer 0', 'timer 1', 'timer 2'] as const)) {
    case 'none':
      return undefined;
    case 'microtask':
      return Promise.resolve();
    case 'immediate':
      return new Promise((resolve) => setImmediate(resolve));
    case 'timer 0':
      return new Promise((resolve) => setTimeout(resolve, 0));
    case 'timer 1':
      return new Promise((resolve) => setTimeout(resolve, 1));
    case 'timer 2':
      return new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/**
 * A pool whose connections fail to open when the schedule says so (a real connect to a missing database), and
 * whose clients always listen for errors. pg-pool takes its own listener off a client when it hands it over,
 * and the caller's `await pool.connect()` resumes only after the socket's current chunk is parsed: a kill that
 * arrives in the same chunk as the previous holder's last reply would be an uncaught error. A killed client
 * fails its statements and is dropped by the pool when released.
 */
function openSchedulePool(seed: number, max: number, connectFails: boolean[]): pg.Pool {
  const missing = new URL(app.url);
  missing.pathname = '/no_such_database';
  let opened = 0;
  class ScheduledClient extends pg.Client {
    constructor(config: pg.ClientConfig = {}) {
      const fails = connectFails[opened++ % connectFails.length];
      super(fails ? { ...config, connectionString: missing.toString() } : config);
      this.on('error', () => undefined);
    }
  }
  return app.openPool({ max, application_name: `interleavings-${seed}`, Client: ScheduledClient });
}

async function runSchedule(seed: number, counters: Counters): Promise<void> {
  const next = random(seed);
  const pick: Pick = (items) => items[Math.floor(next() * items.length)] as (typeof items)[number];
  const connectFails = Array.from({ length: 16 }, () => next() < 0.08);
  const pool = openSchedulePool(seed, pick([1, 2]), connectFails);
  const lanes = 2 + Math.floor(next() * 7);

  // The lazy thenable is returned as it is (not from an async function, which would start it), like a builder.
  const runOperation = (operation: Operation, note: string, expected: Expected): PromiseLike<void> =>
    operation === 'lazy thenable' ? lazyInsert(note, expected) : runAsync(operation, note, expected);
  const runAsync = async (operation: Operation, note: string, expected: Expected): Promise<void> => {
    const values = [note, expected.actor, expected.request];
    switch (operation) {
      case 'pool.query':
        await pool.query(INSERT, values);
        return;
      case 'pool.query callback':
        return new Promise((resolve, reject) => {
          pool.query(INSERT, values, (error) => (error ? reject(error) : resolve()));
        });
      case 'connect promise': {
        const client = await pool.connect();
        try {
          await pause(pick);
          await client.query(INSERT, values);
        } finally {
          client.release();
        }
        return;
      }
      case 'connect callback':
        return new Promise((resolve, reject) => {
          pool.connect((error, client) => {
            if (error || !client) return reject(error);
            client.query(INSERT, values, (queryError) => {
              client.release();
              return queryError ? reject(queryError) : resolve();
            });
          });
        });
      case 'transaction':
      case 'transaction rolled back': {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          await client.query(INSERT, values);
          await pause(pick);
          await client.query(INSERT, [`${note} (second)`, expected.actor, expected.request]);
          await client.query(operation === 'transaction' ? 'COMMIT' : 'ROLLBACK');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        } finally {
          client.release();
        }
        return;
      }
      case 'failing statement':
        await pool.query(FAILING, [note]);
        return;
      case 'lazy thenable':
        return;
      case 'kill idle connections':
        await db.pool.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle'`,
          [`interleavings-${seed}`],
        );
        return;
    }
  };

  // Stands for a lazy query builder (Drizzle, Knex, Prisma): it sends its statement only when then() is called.
  const lazyInsert = (note: string, expected: Expected): PromiseLike<void> => ({
    // biome-ignore lint/suspicious/noThenProperty: a lazy thenable is what this operation is
    then: (resolve, reject) =>
      pool
        .query(INSERT, [note, expected.actor, expected.request])
        .then(() => undefined)
        .then(resolve, reject),
  });

  const runInScope = (scope: ScopeKind, lane: number, step: number, operation: Operation): Promise<void> => {
    const note = `${seed}:${lane}:${step}:${operation}`;
    const request = `${seed}-${lane}-${step}`;
    const actor = `actor-${seed}-${lane}`;
    // Returned, not awaited, from the scope's callback: a lazy thenable must still run in the scope.
    const body = (expected: Expected) => () => runOperation(operation, note, expected);
    switch (scope) {
      case 'none':
        return Promise.resolve(body({ actor: null, request: null })());
      case 'actor':
        return withAuditContext({ actor: { id: actor }, requestId: request }, body({ actor, request }));
      case 'getter':
        return withAuditContext({ actor: () => ({ id: actor }), requestId: request }, body({ actor, request }));
      case 'null actor':
        return withAuditContext({ actor: () => null, requestId: request }, body({ actor: null, request }));
      case 'nested reason':
        return withAuditContext({ actor: { id: actor }, requestId: request }, () =>
          withChangeReason('nested', body({ actor, request })),
        );
    }
  };

  const lane = async (index: number): Promise<void> => {
    const steps = 1 + Math.floor(next() * 5);
    for (let step = 0; step < steps; step++) {
      await pause(pick);
      const operation = pick(OPERATIONS);
      counters.operations += 1;
      try {
        await runInScope(pick(SCOPES), index, step, operation);
      } catch {
        // Failed connects, failing statements and killed connections are part of the schedule.
        counters.failed += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, (_, index) => lane(index)));
  await pool.end();
}

interface Mismatch {
  note: string;
  actor_id: string | null;
  request_id: string | null;
  source: string | null;
}

it(
  `every audit row carries the context of the code that issued it, over ${RUNS} random schedules`,
  async () => {
    const counters: Counters = { operations: 0, failed: 0 };
    for (let seed = FIRST_SEED; seed < FIRST_SEED + RUNS; seed++) {
      await runSchedule(seed, counters);
    }
    const { rows: mismatches } = await db.pool.query<Mismatch>(
      `SELECT new_values ->> 'note' AS note, actor_id, request_id, context ->> 'source' AS source
     FROM auditrum.change_log
     WHERE table_name = 'ledger' AND (
       actor_id IS DISTINCT FROM new_values ->> 'expected_actor'
       OR request_id IS DISTINCT FROM new_values ->> 'expected_request'
       OR context ->> 'source' IS DISTINCT FROM CASE WHEN new_values ->> 'expected_request' IS NULL THEN 'db' ELSE 'app' END)
     ORDER BY id`,
    );
    const seeds = [...new Set(mismatches.map((row) => row.note.split(':')[0]))];
    expect(mismatches, `mismatches at seeds ${seeds.join(', ')} (replay with AUDITRUM_INTERLEAVING_SEED)`).toEqual([]);

    // Nothing lost either: one audit row per row written, and most operations did write.
    const { rows } = await db.pool.query<{ written: number; logged: number }>(
      `SELECT (SELECT count(*)::int FROM ledger) AS written,
       (SELECT count(*)::int FROM auditrum.change_log WHERE table_name = 'ledger' AND operation = 'INSERT') AS logged`,
    );
    expect(rows[0]?.logged).toBe(rows[0]?.written);
    expect(rows[0]?.written).toBeGreaterThan(counters.operations / 2);
    console.log(
      `[interleavings] ${RUNS} schedules from seed ${FIRST_SEED}: ${counters.operations} operations, ` +
        `${rows[0]?.written} rows written and checked, ${counters.failed} failures on purpose`,
    );
    // Not a speed limit: room for long runs on a busy machine (a schedule takes 20-60 ms).
  },
  Math.max(60_000, RUNS * 250),
);
