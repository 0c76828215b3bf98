import type { EraseOptions } from '@auditrum/core';
import {
  ComplianceInputError,
  contextComment,
  createAuditrum,
  ERASED_VALUE,
  erase,
  erasedActorId,
  erasedBody,
  harden,
  seal,
  verify,
} from '@auditrum/core';
import { useAdminRole, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CliOutcome } from './run-cli.js';
import { runCli } from './run-cli.js';

// The two-role set-up of compliance-chain.test.ts: the application's non-superuser role writes a tracked table with
// a person's context, a non-superuser admin role owns the schema (harden) and erases; the superuser pool reads.
const db = useTestDatabase();
const role = useAppRole(db);
const adminRole = useAdminRole(db);
let app: pg.Pool;
let admin: pg.Pool;

const ALICE = {
  actor: { id: 'alice-7', label: 'Alice Liddell' },
  ip: '203.0.113.7',
  userAgent: 'AliceBrowser/1.0',
  path: '/people/alice@example.com',
  route: '/people/:email',
  source: 'http',
  requestId: 'req-alice-1',
  reason: 'profile update',
};
const BOB = { actor: { id: 'bob-1', label: 'Bob' }, ip: '198.51.100.1', source: 'http', requestId: 'req-bob-1' };

function cli(args: string[]): Promise<CliOutcome> {
  return runCli(args, { env: { DATABASE_URL: adminRole.url }, cwd: process.cwd() });
}

/** A statement of the application, with the context comment its instrumentation would put first. */
async function asApp(context: Parameters<typeof contextComment>[0], sql: string): Promise<void> {
  await app.query(`${contextComment(context)} ${sql}`);
}

interface ChangeRow {
  id: string;
  operation: string;
  row_key: string | null;
  old_values: Record<string, unknown> | null;
  new_values: Record<string, unknown> | null;
  actor_id: string | null;
  context: Record<string, unknown> | null;
}

async function changesWhere(where: string, params: unknown[] = []): Promise<ChangeRow[]> {
  const { rows } = await db.pool.query<ChangeRow>(
    `SELECT id::text, operation, row_key, old_values, new_values, actor_id, context FROM auditrum.changes
     WHERE ${where} ORDER BY id`,
    params,
  );
  return rows;
}

/** Everything stored in both logs and the erasure tables, as one text: what must no longer hold a person's value. */
async function everythingStored(): Promise<string> {
  const { rows } = await db.pool.query<{ text: string }>(
    `SELECT concat_ws(E'\\n',
       (SELECT string_agg(c::text, E'\\n') FROM auditrum.changes c),
       (SELECT string_agg(r::text, E'\\n') FROM auditrum.api_requests r),
       (SELECT string_agg(e::text, E'\\n') FROM auditrum.erasures e),
       (SELECT string_agg(e::text, E'\\n') FROM auditrum.erased_changes e)) AS text`,
  );
  return rows[0]?.text ?? '';
}

/** The whole state erase could change, to show that a refused erasure changed nothing. */
async function snapshot(): Promise<string> {
  const { rows } = await db.pool.query<{ state: string }>(
    `SELECT md5(concat_ws('|',
       (SELECT string_agg(c::text, ',' ORDER BY c.id) FROM auditrum.changes c),
       (SELECT string_agg(r::text, ',' ORDER BY r.id) FROM auditrum.api_requests r),
       (SELECT string_agg(l::text, ',' ORDER BY l.seq) FROM auditrum.chain l),
       (SELECT count(*) FROM auditrum.erasures), (SELECT count(*) FROM auditrum.erased_changes))) AS state`,
  );
  return rows[0]?.state ?? '';
}

/** An API-log row as the request logger writes it, with a person's label, address, agent and bodies. */
async function insertApiRequest(requestId: string, actorId: string, who: { label: string; ip: string }): Promise<void> {
  await app.query(
    `INSERT INTO auditrum.api_requests (requested_at, request_id, method, path, query, status, duration_ms, actor_id,
       actor_label, ip, user_agent, request_body, response_body)
     VALUES (now(), $1, 'PUT', '/people/1', '{"verbose": "1"}', 200, 3.5, $2, $3, $4, $5, $6, '{"ok": true}')`,
    [requestId, actorId, who.label, who.ip, `${who.label}Browser/1.0`, { email: `${actorId}@example.com` }],
  );
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  admin = adminRole.openPool({ max: 2 });
  await app.query('CREATE TABLE people (id int PRIMARY KEY, email text, name text, city text)');
  await app.query('CREATE TABLE accounts (email text PRIMARY KEY, plan text)');
  await db.pool.query(`SELECT auditrum.track('people'), auditrum.track('accounts')`);
  await harden(db.pool, 'auditrum', { appRole: role.name, adminRole: adminRole.name });
});

afterAll(async () => {
  await Promise.all([app, admin].map((pool) => pool.end()));
});

describe('erasure by actor', () => {
  let erasureId: string;
  let aliceIds: string[];

  beforeAll(async () => {
    await asApp(ALICE, `INSERT INTO people VALUES (1, 'alice@example.com', 'Alice', 'Oxford')`);
    await asApp(ALICE, `UPDATE people SET city = 'London' WHERE id = 1`);
    await asApp(BOB, `INSERT INTO people VALUES (2, 'bob@example.com', 'Bob', 'Leeds')`);
    await insertApiRequest('req-alice-1', 'alice-7', { label: 'Alice Liddell', ip: ALICE.ip });
    await insertApiRequest('req-bob-1', 'bob-1', { label: 'Bob', ip: BOB.ip });
    await seal(admin, 'auditrum');
    // Written after the seal: erased before it is sealed.
    await asApp(ALICE, `UPDATE people SET name = 'Alice L.' WHERE id = 1`);
    aliceIds = (await changesWhere(`actor_id = 'alice-7'`)).map((c) => c.id);
    expect(aliceIds).toHaveLength(3);
  });

  it('a dry run counts exactly and changes nothing', async () => {
    const before = await snapshot();
    const result = await erase(admin, 'auditrum', {
      subject: { actorId: 'alice-7' },
      reason: 'GDPR request #17',
      dryRun: true,
    });
    expect(result).toEqual({ erasureId: null, changes: 3, apiRequests: 1, sealed: 2, unmatched: 0, applied: false });
    expect(await snapshot()).toBe(before);
  });

  it('the application role may not erase', async () => {
    const before = await snapshot();
    await expect(
      erase(app, 'auditrum', { subject: { actorId: 'alice-7' }, reason: 'GDPR request #17' }),
    ).rejects.toMatchObject({ code: '42501' });
    for (const sql of [
      `UPDATE auditrum.changes SET actor_id = 'x' WHERE actor_id = 'alice-7'`,
      `UPDATE auditrum.chain SET salt = NULL`,
      `INSERT INTO auditrum.erasures (reason, subject, changes, api_requests) VALUES ('r', '{}', 0, 0)`,
      `INSERT INTO auditrum.erased_changes (erasure_id, change_id) VALUES (1, 1)`,
    ]) {
      await expect(app.query(sql), sql).rejects.toMatchObject({ code: '42501' });
    }
    expect(await snapshot()).toBe(before);
  });

  it("replaces the actor id with the erasure's pseudonym and who-and-where context fields with the marker", async () => {
    const result = await cli(['erase', '--actor-id', 'alice-7', '--reason', 'GDPR request #17', '--actor', 'dpo']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const match = /erased 3 change row\(s\) \(2 sealed\) and 1 API request\(s\): erasure (\d+)/.exec(result.stdout);
    expect(match, result.stdout).not.toBeNull();
    erasureId = match?.[1] as string;
    const rows = await changesWhere('id = ANY ($1::bigint[])', [aliceIds]);
    expect(rows.map((c) => c.actor_id)).toEqual(Array(3).fill(erasedActorId(erasureId)));
    for (const row of rows) {
      expect(row.context).toEqual({
        actor_label: ERASED_VALUE,
        ip: ERASED_VALUE,
        user_agent: ERASED_VALUE,
        path: ERASED_VALUE,
        route: '/people/:email',
        source: 'http',
        reason: 'profile update',
      });
    }
    // The values of the rows are not the actor's: an erasure by row erases them.
    expect(rows[0]?.new_values).toMatchObject({ email: 'alice@example.com' });
    // Bob's change is untouched.
    expect((await changesWhere(`row_key = '2'`))[0]).toMatchObject({ actor_id: 'bob-1' });
  });

  it("masks the actor's API-log rows, and no other", async () => {
    const { rows } = await db.pool.query(
      `SELECT request_id, actor_id, actor_label, ip, user_agent, query, request_body, response_body, path
       FROM auditrum.api_requests ORDER BY id`,
    );
    const body = erasedBody(erasureId);
    expect(rows).toEqual([
      {
        request_id: 'req-alice-1',
        actor_id: erasedActorId(erasureId),
        actor_label: ERASED_VALUE,
        ip: ERASED_VALUE,
        user_agent: ERASED_VALUE,
        query: body,
        request_body: body,
        response_body: body,
        path: '/people/1',
      },
      expect.objectContaining({
        request_id: 'req-bob-1',
        actor_id: 'bob-1',
        request_body: { email: 'bob-1@example.com' },
      }),
    ]);
  });

  it('records who erased, who asked and why, and which rows, without the actor id', async () => {
    const { rows } = await db.pool.query(
      `SELECT id::text, erased_by, actor, reason, subject, changes::int, api_requests::int FROM auditrum.erasures`,
    );
    expect(rows).toEqual([
      {
        id: erasureId,
        erased_by: adminRole.name,
        actor: 'dpo',
        reason: 'GDPR request #17',
        subject: { actor_id: ERASED_VALUE },
        changes: 3,
        api_requests: 1,
      },
    ]);
    const touched = await db.pool.query<{ change_id: string; has_digest: boolean }>(
      `SELECT change_id::text, digest IS NOT NULL AS has_digest FROM auditrum.erased_changes
       WHERE erasure_id = $1 ORDER BY change_id`,
      [erasureId],
    );
    // The two sealed rows get the digest of what the erasure left; the unsealed one none (its seal will hold it).
    expect(touched.rows).toEqual(aliceIds.map((id, i) => ({ change_id: id, has_digest: i < 2 })));
    // The application role reads the erasures as it reads the log.
    expect((await app.query('SELECT count(*)::int AS n FROM auditrum.erasures')).rows[0]).toEqual({ n: 1 });
  });

  it('keeps no erased value anywhere in the logs or the erasure records', async () => {
    const stored = await everythingStored();
    for (const value of ['alice-7', 'Alice Liddell', ALICE.ip, 'AliceBrowser', '/people/alice@']) {
      expect(stored).not.toContain(value);
    }
  });

  it('the chain still verifies: the erased rows reported erased with their erasure, none as tampered', async () => {
    await seal(admin, 'auditrum');
    const result = await verify(admin, 'auditrum');
    expect(result.problems).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.erased.map((e) => [e.changeId, e.erasureId])).toEqual(aliceIds.map((id) => [id, erasureId]));
    const printed = await cli(['verify']);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContain(`3 row(s) erased, as erasure(s) ${erasureId} left them`);
  });

  it('any other change to an erased row is still named changed', async () => {
    const id = aliceIds[0] as string;
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`UPDATE auditrum.changes SET context = context || '{"source": "job"}' WHERE id = $1`, [id]);
      const result = await verify(client, 'auditrum');
      expect(result.problems).toEqual([
        {
          problem: 'changed',
          seq: expect.any(String),
          changeId: id,
          detail: expect.stringContaining(`was changed (erased by erasure ${erasureId}, since)`),
        },
      ]);
      expect(result.erased.map((e) => e.changeId)).toEqual(aliceIds.slice(1));
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('nothing left in the chain confirms a guess of an erased value, the true one included', async () => {
    const id = aliceIds[0] as string;
    // The row as it was sealed, with its true values put back: under the link's salt now, its digest is neither the
    // one sealed nor the erasure's. The salt the link was sealed with is gone.
    const { rows } = await db.pool.query<{ sealed: boolean; erased: boolean }>(
      `SELECT auditrum._chain_salted_digest(l.salt, c.id, c.changed_at, c.txid, c.table_id, c.operation, c.row_key,
           c.old_values, c.new_values, 'alice-7', c.request_id,
           c.context || '{"actor_label": "Alice Liddell", "ip": "203.0.113.7", "user_agent": "AliceBrowser/1.0",
             "path": "/people/alice@example.com"}') = l.digest AS sealed,
         auditrum._chain_salted_digest(l.salt, c.id, c.changed_at, c.txid, c.table_id, c.operation, c.row_key,
           c.old_values, c.new_values, 'alice-7', c.request_id, c.context) = e.digest AS erased
       FROM auditrum.changes c JOIN auditrum.chain l ON l.change_id = c.id
         JOIN auditrum.erased_changes e ON e.change_id = c.id
       WHERE c.id = $1`,
      [id],
    );
    expect(rows).toEqual([{ sealed: false, erased: false }]);
  });
});

describe('erasure by row', () => {
  beforeAll(async () => {
    await asApp(BOB, `INSERT INTO people VALUES (10, 'carol@example.com', 'Carol', 'York')`);
    await asApp(BOB, `UPDATE people SET email = 'carol@example.org', city = 'Bath' WHERE id = 10`);
    await asApp(BOB, `INSERT INTO accounts VALUES ('dave@example.com', 'pro')`);
    await asApp(BOB, `UPDATE accounts SET plan = 'free' WHERE email = 'dave@example.com'`);
    await seal(admin, 'auditrum');
  });

  it('replaces the columns in every version of the row, old and new values, and nothing else', async () => {
    const result = await erase(admin, 'auditrum', {
      subject: { table: 'public.people', key: 10, columns: ['email', 'name'] },
      reason: 'GDPR request #18',
      requestedBy: 'dpo',
    });
    expect(result).toMatchObject({ changes: 2, apiRequests: 0, sealed: 2, unmatched: 0, applied: true });
    const rows = await changesWhere(`row_key = '10'`);
    expect(rows.map((c) => [c.operation, c.old_values, c.new_values, c.actor_id])).toEqual([
      ['INSERT', null, { id: 10, email: ERASED_VALUE, name: ERASED_VALUE, city: 'York' }, 'bob-1'],
      ['UPDATE', { email: ERASED_VALUE, city: 'York' }, { email: ERASED_VALUE, city: 'Bath' }, 'bob-1'],
    ]);
    const { rows: recorded } = await db.pool.query(`SELECT subject FROM auditrum.erasures WHERE id = $1`, [
      result.erasureId,
    ]);
    expect(recorded).toEqual([{ subject: { table: 'public.people', key: '10', columns: ['email', 'name'] } }]);
    expect(await everythingStored()).not.toContain('carol@');
    const verified = await verify(admin, 'auditrum');
    expect(verified.problems).toEqual([]);
    expect(verified.erased.filter((e) => e.erasureId === result.erasureId).map((e) => e.changeId)).toEqual(
      rows.map((c) => c.id),
    );
  });

  it('a key column erased takes the row key with it: the versions keep one pseudonymous key', async () => {
    const before = (await changesWhere(`row_key = 'dave@example.com'`)).map((c) => c.id);
    expect(before).toHaveLength(2);
    const result = await erase(admin, 'auditrum', {
      subject: { table: 'accounts', key: { email: 'dave@example.com' }, columns: ['email'] },
      reason: 'GDPR request #19',
    });
    const rows = await changesWhere('id = ANY ($1::bigint[])', [before]);
    expect(rows.map((c) => [c.row_key, c.old_values, c.new_values])).toEqual([
      [`erased:${result.erasureId}`, null, { email: ERASED_VALUE, plan: 'pro' }],
      [`erased:${result.erasureId}`, { plan: 'pro' }, { plan: 'free' }],
    ]);
    const { rows: recorded } = await db.pool.query(`SELECT subject FROM auditrum.erasures WHERE id = $1`, [
      result.erasureId,
    ]);
    expect(recorded).toEqual([{ subject: { table: 'public.accounts', key: ERASED_VALUE, columns: ['email'] } }]);
    expect(await everythingStored()).not.toContain('dave@');
    expect((await verify(admin, 'auditrum')).problems).toEqual([]);
  });

  it('the CLI dry run prints exact counts as JSON and changes nothing', async () => {
    const before = await snapshot();
    const result = await cli([
      'erase',
      '--table',
      'people',
      '--key',
      '2',
      '--columns',
      'city',
      '--reason',
      'GDPR request #23',
      '--dry-run',
      '--json',
    ]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      erasureId: null,
      changes: 1,
      apiRequests: 0,
      sealed: 1,
      unmatched: 0,
      applied: false,
    });
    expect(await snapshot()).toBe(before);
  });

  it('erases again a row an earlier erasure touched: verify checks it against the latest', async () => {
    const audit = createAuditrum({ pool: admin, partitions: false });
    try {
      const subject = { table: 'public.people', key: 1, columns: ['email'] };
      expect(await audit.erase({ subject, reason: 'GDPR request #21', dryRun: true })).toMatchObject({
        changes: 3,
        applied: false,
      });
      const result = await audit.erase({ subject, reason: 'GDPR request #21' });
      const rows = await changesWhere(`row_key = '1'`);
      expect(rows[0]?.new_values).toMatchObject({ email: ERASED_VALUE, name: 'Alice' });
      expect(rows[0]?.actor_id).toMatch(/^erased:\d+$/);
      const verified = await audit.verify();
      expect(verified.problems).toEqual([]);
      expect(verified.erased.filter((e) => rows.some((r) => r.id === e.changeId)).map((e) => e.erasureId)).toEqual(
        Array(3).fill(result.erasureId),
      );
    } finally {
      await audit.close();
    }
  });

  it('a row changed before its erasure stays named changed: an erasure never hides a change', async () => {
    await asApp(BOB, `INSERT INTO people VALUES (11, 'erin@example.com', 'Erin', 'Hull')`);
    await seal(admin, 'auditrum');
    const [row] = await changesWhere(`row_key = '11'`);
    await db.pool.query(`UPDATE auditrum.changes SET actor_id = 'forged' WHERE id = $1`, [row?.id]);
    const result = await erase(admin, 'auditrum', {
      subject: { table: 'public.people', key: '11', columns: ['email'] },
      reason: 'GDPR request #20',
    });
    expect(result).toMatchObject({ changes: 1, sealed: 1, unmatched: 1 });
    const verified = await verify(admin, 'auditrum');
    expect(verified.problems.map((p) => [p.problem, p.changeId, p.detail])).toEqual([
      [
        'changed',
        row?.id,
        expect.stringContaining(`was changed (erased by erasure ${result.erasureId}, but changed before it)`),
      ],
    ]);
    // Put back, the row is as the erasure found it, not as it left it: still changed.
    await db.pool.query(`UPDATE auditrum.changes SET actor_id = 'bob-1' WHERE id = $1`, [row?.id]);
    expect((await verify(admin, 'auditrum')).problems.map((p) => p.changeId)).toEqual([row?.id]);
  });
});

describe('erasure and sealing at the same time', () => {
  it('an erasure waits for a seal under way, then sees its links: the rows that seal took are reported erased', async () => {
    await asApp(
      { actor: { id: 'carl-3' }, ip: '192.0.2.33', source: 'http' },
      `INSERT INTO people VALUES (30, 'c', 'Carl', 'Ely')`,
    );
    const sealing = await db.pool.connect();
    try {
      await sealing.query('BEGIN');
      const { rows } = await sealing.query<{ rows: string }>('SELECT rows::text FROM auditrum.seal()');
      expect(Number(rows[0]?.rows)).toBeGreaterThanOrEqual(1);
      const erasing = erase(admin, 'auditrum', { subject: { actorId: 'carl-3' }, reason: 'GDPR request #22' });
      let erased = false;
      void erasing.then(
        () => {
          erased = true;
        },
        () => undefined,
      );
      // The erasure waits on the seal's lock (not a timed wait: until PostgreSQL says it waits on a lock); one that
      // ends first did not wait, and would not see the seal's links.
      for (;;) {
        const waiting = await db.pool.query(
          `SELECT FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%.erase(%'`,
        );
        if (waiting.rowCount === 1) break;
        expect(erased, 'the erasure ended without waiting for the seal').toBe(false);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await sealing.query('COMMIT');
      expect(await erasing).toMatchObject({ changes: 1, sealed: 1, unmatched: 0 });
    } finally {
      await sealing.query('ROLLBACK').catch(() => undefined);
      sealing.release();
    }
    const verified = await verify(admin, 'auditrum');
    const [carl] = await changesWhere(`row_key = '30'`);
    // (The row an earlier test changed before erasing it is still named; Carl's is not.)
    expect(verified.problems.map((p) => p.changeId)).not.toContain(carl?.id);
    expect(verified.erased.map((e) => e.changeId)).toContain(carl?.id);
  });
});

describe('what erasure records is append-only', () => {
  it('refuses the owner changing an erasure, its rows or a verification, and any column of a link but its salt', async () => {
    for (const table of ['erasures', 'erased_changes', 'verifications']) {
      const column = { erasures: 'reason', erased_changes: 'digest', verifications: 'links' }[table] as string;
      await expect(admin.query(`UPDATE auditrum.${table} SET ${column} = ${column}`)).rejects.toThrow(
        `auditrum.${table} is append-only`,
      );
      await expect(admin.query(`DELETE FROM auditrum.${table}`)).rejects.toThrow(`auditrum.${table} is append-only`);
      await expect(admin.query(`TRUNCATE auditrum.${table} CASCADE`)).rejects.toThrow('append-only');
    }
    for (const column of ['digest', 'hash', 'change_id', 'format']) {
      await expect(admin.query(`UPDATE auditrum.chain SET ${column} = ${column} WHERE seq = 1`)).rejects.toThrow(
        'auditrum.chain is append-only (UPDATE refused)',
      );
    }
  });
});

describe('bad input gives a clear error and changes nothing', () => {
  let before: string;
  beforeEach(async () => {
    before = await snapshot();
  });

  const cases: [string, EraseOptions, string][] = [
    [
      'an unknown actor',
      { subject: { actorId: 'nobody' }, reason: 'r' },
      'actor "nobody" made no change and no API request: nothing erased',
    ],
    ['an empty actor id', { subject: { actorId: '' }, reason: 'r' }, 'actorId must be a non-empty string'],
    [
      'an unknown table',
      { subject: { table: 'public.nope', key: 1, columns: ['email'] }, reason: 'r' },
      '"public.nope" is not a tracked table',
    ],
    [
      'a key of the wrong shape',
      { subject: { table: 'people', key: [1, 2], columns: ['email'] }, reason: 'r' },
      'the key of table public.people is (id): give 1 value(s)',
    ],
    [
      'a key its column cannot hold',
      { subject: { table: 'people', key: 'x', columns: ['email'] }, reason: 'r' },
      'is not a valid integer for key column id',
    ],
    [
      'a column that does not exist',
      { subject: { table: 'people', key: 1, columns: ['email', 'shoe_size'] }, reason: 'r' },
      'table public.people has no column shoe_size',
    ],
    ['no columns', { subject: { table: 'people', key: 1, columns: [] }, reason: 'r' }, 'columns must be a list'],
    [
      'a table name that is not a name',
      { subject: { table: 'a.b.c.d', key: 1, columns: ['email'] }, reason: 'r' },
      '"a.b.c.d" is not a tracked table',
    ],
    [
      'a table of another database',
      { subject: { table: 'other.public.people', key: 1, columns: ['email'] }, reason: 'r' },
      '"other.public.people" is not a tracked table',
    ],
    [
      'a row without history',
      { subject: { table: 'people', key: 999, columns: ['email'] }, reason: 'r' },
      'row 999 of table public.people has no history: nothing erased',
    ],
    ['a missing reason', { subject: { actorId: 'bob-1' }, reason: '' }, 'give the reason'],
    ['a blank reason', { subject: { actorId: 'bob-1' }, reason: '  ' }, 'give the reason'],
    [
      'two subjects at once',
      { subject: { actorId: 'bob-1', table: 'people' } as never, reason: 'r' },
      'actorId must be a non-empty string, alone',
    ],
  ];
  it.each(cases)('the API: %s', async (_what, options, message) => {
    const error = await erase(admin, 'auditrum', options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ComplianceInputError);
    expect((error as Error).message).toContain(message);
    expect(await snapshot()).toBe(before);
  });

  it.each([
    ['an unknown actor', ['--actor-id', 'nobody', '--reason', 'r'], 'made no change and no API request'],
    ['no reason', ['--actor-id', 'bob-1'], 'give --reason'],
    ['no subject', ['--reason', 'r'], 'give --actor-id, or --table with --key and --columns'],
    ['both subjects', ['--actor-id', 'bob-1', '--table', 'people', '--reason', 'r'], 'not both'],
    ['a table without a key', ['--table', 'people', '--columns', 'email', '--reason', 'r'], 'with --key'],
    [
      'an unknown table',
      ['--table', 'nope', '--key', '1', '--columns', 'email', '--reason', 'r'],
      'not a tracked table',
    ],
    [
      'a key that is not JSON',
      ['--table', 'people', '--key', '[1,', '--columns', 'email', '--reason', 'r'],
      'not valid JSON',
    ],
    [
      'an empty column name',
      ['--table', 'people', '--key', '1', '--columns', 'email,', '--reason', 'r'],
      'give column names',
    ],
    [
      'an unknown column',
      ['--table', 'people', '--key', '1', '--columns', 'shoe', '--reason', 'r'],
      'has no column shoe',
    ],
  ])('the CLI: %s', async (_what, args, message) => {
    const result = await cli(['erase', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(await snapshot()).toBe(before);
  });
});
