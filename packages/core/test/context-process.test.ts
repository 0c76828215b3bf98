import { BAD_CONTEXT_ENV_WARNING, CONTEXT_ENV, createAuditrum, withAuditContext } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

// AUDITRUM_CONTEXT (what `auditrum exec` sets): the context of a process's statements sent outside any audit scope,
// through the pg instrumentation, written by a non-superuser application role that owns its table.
const db = useTestDatabase();
const app = useAppRole(db);
let pool: pg.Pool;

interface Stored {
  actor_id: string | null;
  request_id: string | null;
  context: Record<string, unknown>;
}

/** Inserts row `id` (inside `scope` when given) and returns its change. */
async function insert(id: number, scope?: Parameters<typeof withAuditContext>[0]): Promise<Stored> {
  const text = `INSERT INTO public.notes VALUES (${id})`;
  await (scope === undefined ? pool.query(text) : withAuditContext(scope, () => pool.query(text)));
  const { rows } = await db.pool.query<Stored>(
    "SELECT actor_id, request_id, context FROM auditrum.changes WHERE row_key = $1 AND operation = 'INSERT'",
    [String(id)],
  );
  if (rows.length !== 1) throw new Error(`expected one change of row ${id}, found ${rows.length}`);
  return rows[0] as Stored;
}

/** The process warnings with the bad-variable code given while `work` runs. */
async function warningsDuring(work: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const listener = (warning: Error & { code?: string }) => {
    if (warning.code === BAD_CONTEXT_ENV_WARNING) seen.push(warning.message);
  };
  process.on('warning', listener);
  try {
    await work();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return seen;
}

const direct = (): Record<string, unknown> => ({
  source: 'db',
  db_user: app.name,
  application_name: 'process-context-test',
  client_addr: '127.0.0.1',
});

beforeAll(async () => {
  pool = app.openPool({ max: 1, application_name: 'process-context-test' });
  await pool.query('CREATE TABLE public.notes (id int PRIMARY KEY)');
  await createAuditrum({ pool: db.pool, partitions: false }).track('public.notes');
  createAuditrum({ pool, partitions: false });
});

afterEach(() => {
  delete process.env[CONTEXT_ENV];
});

afterAll(() => pool.end());

describe('AUDITRUM_CONTEXT: a default context for statements outside any scope', () => {
  it('attaches nothing when the variable is not set, as before', async () => {
    expect(await insert(1)).toEqual({ actor_id: null, request_id: null, context: direct() });
  });

  it("gives a statement outside any scope the variable's context; a scope wins over it", async () => {
    process.env[CONTEXT_ENV] = JSON.stringify({
      actor_id: 'os:deploy',
      source: 'cli',
      reason: 'backfill */ #123',
      pid: 4242,
    });
    expect(await insert(2)).toEqual({
      actor_id: 'os:deploy',
      request_id: null,
      context: { source: 'cli', reason: 'backfill */ #123', pid: 4242 },
    });
    expect(await insert(3, { actor: { id: 'alice' }, requestId: 'req-3', source: 'http' })).toEqual({
      actor_id: 'alice',
      request_id: 'req-3',
      context: { source: 'http' },
    });
    // Read at each statement: a changed variable is seen, an emptied one gives nothing.
    process.env[CONTEXT_ENV] = '{"actor_id":"os:other"}';
    expect((await insert(4)).actor_id).toBe('os:other');
    process.env[CONTEXT_ENV] = '';
    expect(await insert(5)).toEqual({ actor_id: null, request_id: null, context: direct() });
  });

  it('gives each statement queued on a pool of one the context it was sent with, scoped or not', async () => {
    process.env[CONTEXT_ENV] = '{"actor_id":"os:deploy","source":"cli"}';
    // Sent together: all but the first wait for the one connection, and are handed it from another's release().
    const sent = [20, 21, 22, 23, 24, 25].map((id) =>
      id % 2 === 0
        ? pool.query(`INSERT INTO public.notes VALUES (${id})`)
        : withAuditContext({ actor: { id: `user-${id}` }, source: 'http' }, () =>
            pool.query(`INSERT INTO public.notes VALUES (${id})`),
          ),
    );
    await Promise.all(sent);
    const { rows } = await db.pool.query<{ row_key: string; actor_id: string; source: string }>(
      "SELECT row_key, actor_id, context->>'source' AS source FROM auditrum.changes WHERE row_key IN ('20', '21', '22', '23', '24', '25') ORDER BY row_key",
    );
    expect(rows).toEqual([
      { row_key: '20', actor_id: 'os:deploy', source: 'cli' },
      { row_key: '21', actor_id: 'user-21', source: 'http' },
      { row_key: '22', actor_id: 'os:deploy', source: 'cli' },
      { row_key: '23', actor_id: 'user-23', source: 'http' },
      { row_key: '24', actor_id: 'os:deploy', source: 'cli' },
      { row_key: '25', actor_id: 'user-25', source: 'http' },
    ]);
  });

  const BAD: [string, string, string][] = [
    ['not JSON', '{actor_id: x}', 'is not JSON'],
    ['an array', '["os:root"]', 'is not a JSON object'],
    ['null', 'null', 'is not a JSON object'],
    [
      'over the comment limit',
      JSON.stringify({ actor_id: 'x', reason: 'é'.repeat(9000) }),
      'is over 16384 bytes as JSON',
    ],
  ];
  let id = 10;
  for (const [what, value, problem] of BAD) {
    it(`leaves out a variable that is ${what}, with one warning, and the write goes through`, async () => {
      process.env[CONTEXT_ENV] = value;
      id += 1;
      const written = id;
      const warnings = await warningsDuring(async () => {
        expect(await insert(written)).toEqual({ actor_id: null, request_id: null, context: direct() });
        expect(await insert(written + 100)).toMatchObject({ actor_id: null });
      });
      expect(warnings).toEqual([
        `auditrum: AUDITRUM_CONTEXT ${problem}; statements outside an audit context carry no context (it is left out)`,
      ]);
    });
  }
});
