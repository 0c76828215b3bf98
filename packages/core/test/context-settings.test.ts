import { randomBytes } from 'node:crypto';
import { createAuditrum, withAuditContext } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { optionsWithContext } from '../src/context/connection-options.js';

// A write with no context comment takes its context from the connection's settings (migration 15): Auditrum's own
// `auditrum.context` (what `auditrum exec` sets through PGOPTIONS), else a gateway's: PostgREST's and Supabase's
// `request.jwt.claims`, Hasura's `hasura.user`. Believed only from a login role that is an application role, like a
// comment. Every role here is a non-superuser: the application role owns its table; PostgREST's authenticator and
// Hasura's login role are application roles that SET ROLE (or not) to a role that may write; the outsider is not one.
const db = useTestDatabase();
const app = useAppRole(db);
const suffix = randomBytes(4).toString('hex');
const PASSWORD = randomBytes(9).toString('hex');
const authenticator = `authenticator_${suffix}`; // PostgREST's login role, an application role
const web = `web_${suffix}`; // the role PostgREST SETs for a signed-in user (`authenticated` on Supabase)
const hasura = `hasura_${suffix}`; // Hasura's login role, an application role
const outsider = `outsider_${suffix}`; // may SET ROLE web, is no application role
const roles = [authenticator, web, hasura, outsider];
const table = `ledger_${suffix}`;
const clients: pg.Client[] = [];

function urlAs(role: string): string {
  const url = new URL(db.url);
  url.username = role;
  url.password = PASSWORD;
  return url.toString();
}

async function connect(url: string, config: pg.ClientConfig = {}): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'settings-test', ...config });
  client.on('error', () => undefined);
  clients.push(client);
  await client.connect();
  return client;
}

interface Stored {
  operation: string;
  actor_id: string | null;
  request_id: string | null;
  context: Record<string, unknown>;
}

async function lastChange(): Promise<Stored> {
  const { rows } = await db.pool.query<Stored>(
    'SELECT operation, actor_id, request_id, context FROM auditrum.changes ORDER BY id DESC LIMIT 1',
  );
  if (!rows[0]) throw new Error('no change recorded');
  return rows[0];
}

/** Runs `statements` in one transaction on `client`, then one UPDATE of the ledger, and returns its change. */
async function writeIn(client: pg.Client, ...statements: [string, unknown[]?][]): Promise<Stored> {
  await client.query('BEGIN');
  for (const [text, values] of statements) await client.query(text, values);
  await client.query(`UPDATE public.${table} SET amount = amount + 1 WHERE id = 1`);
  await client.query('COMMIT');
  return lastChange();
}

const local = (name: string, value: string): [string, unknown[]] => ['SELECT set_config($1, $2, true)', [name, value]];

function facts(dbUser: string): Record<string, unknown> {
  return { source: 'db', db_user: dbUser, application_name: 'settings-test', client_addr: '127.0.0.1' };
}

const CLAIMS = '{"sub":"u-1","role":"authenticated","email":"a@b.test","aud":"authenticated","exp":1999999999}';
const HASURA_USER = '{"x-hasura-role":"user","x-hasura-user-id":"42","x-hasura-org-id":"7"}';
const EXEC_CONTEXT = { actor_id: 'os:deploy', request_id: 'run-1', source: 'cli', reason: 'backfill #123' };

beforeAll(async () => {
  for (const role of roles) {
    const login = role === web ? 'NOLOGIN' : `LOGIN PASSWORD '${PASSWORD}'`;
    await db.pool.query(`CREATE ROLE ${role} ${login}`);
  }
  // As PostgREST asks: the authenticator does not inherit the roles it switches to.
  await db.pool.query(`ALTER ROLE ${authenticator} NOINHERIT`);
  await db.pool.query(`GRANT ${web} TO ${authenticator}, ${outsider}`);
  await db.pool.query('SELECT auditrum.add_application_role($1::regrole), auditrum.add_application_role($2::regrole)', [
    authenticator,
    hasura,
  ]);
  const owner = await connect(app.url);
  await owner.query(`CREATE TABLE public.${table} (id int PRIMARY KEY, amount int NOT NULL)`);
  await owner.query(`INSERT INTO public.${table} VALUES (1, 0), (2, 0)`);
  await owner.query(`GRANT SELECT, INSERT, UPDATE ON public.${table} TO ${web}, ${hasura}, ${outsider}`);
  await createAuditrum({ pool: db.pool, partitions: false }).track(`public.${table}`);
  // As a host behind PostgREST or Hasura sets it up (off by default: see the first gateway test).
  await db.pool.query('SELECT auditrum.read_gateway_settings(true)');
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  for (const role of roles) {
    await db.pool.query(`DROP OWNED BY ${role}`);
    await db.pool.query(`DROP ROLE ${role}`);
  }
});

describe('auditrum.context: a context the connection carries', () => {
  it('attributes a write of an application role to the setting (set in the transaction or at connection)', async () => {
    const client = await connect(app.url);
    expect(await writeIn(client, local('auditrum.context', JSON.stringify(EXEC_CONTEXT)))).toEqual({
      operation: 'UPDATE',
      actor_id: 'os:deploy',
      request_id: 'run-1',
      context: { source: 'cli', reason: 'backfill #123' },
    });
    // What PGOPTIONS carries: a startup option, for the whole session.
    const started = await connect(app.url, { options: optionsWithContext(undefined, JSON.stringify(EXEC_CONTEXT)) });
    await started.query(`INSERT INTO public.${table} VALUES (3, 0)`);
    expect(await lastChange()).toEqual({
      operation: 'INSERT',
      actor_id: 'os:deploy',
      request_id: 'run-1',
      context: { source: 'cli', reason: 'backfill #123' },
    });
  });

  it('carries spaces, backslashes and quotes through the startup options, after the options already given', async () => {
    const context = { actor_id: 'os:a b', reason: 'C:\\new dir\\ "x"\ttab', source: 'cli' };
    const options = optionsWithContext('-c statement_timeout=5s', JSON.stringify(context));
    const client = await connect(app.url, { options });
    expect((await client.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows).toEqual([
      { statement_timeout: '5s' },
    ]);
    expect(await writeIn(client)).toEqual({
      operation: 'UPDATE',
      actor_id: 'os:a b',
      request_id: null,
      context: { reason: 'C:\\new dir\\ "x"\ttab', source: 'cli' },
    });
  });

  it("lets a comment win over the setting: a request's context inside an exec'd script stays the request's", async () => {
    const client = await connect(app.url, { options: optionsWithContext(undefined, JSON.stringify(EXEC_CONTEXT)) });
    await withAuditContext({ actor: { id: 'alice' }, requestId: 'req-9', source: 'http' }, () =>
      client.query(`UPDATE public.${table} SET amount = 5 WHERE id = 2`),
    );
    expect(await lastChange()).toEqual({
      operation: 'UPDATE',
      actor_id: 'alice',
      request_id: 'req-9',
      context: { source: 'http' },
    });
    // An unreadable comment is no comment: the setting speaks.
    await client.query(`/*auditrum:{not json*/ UPDATE public.${table} SET amount = 6 WHERE id = 2`);
    expect(await lastChange()).toMatchObject({ actor_id: 'os:deploy', context: { source: 'cli' } });
  });

  it("keeps a role's setting only as claimed when the role is no application role", async () => {
    const client = await connect(urlAs(outsider));
    expect(await writeIn(client, local('auditrum.context', JSON.stringify(EXEC_CONTEXT)))).toEqual({
      operation: 'UPDATE',
      actor_id: null,
      request_id: null,
      context: { ...facts(outsider), claimed: EXEC_CONTEXT },
    });
  });

  // Any value at all: the write goes through, recorded as a direct write with what was claimed.
  const BAD: [string, string, unknown][] = [
    ['not JSON', '{"actor_id": "x"', { $auditrum: 'invalid', setting: 'auditrum.context', value: '{"actor_id": "x"' }],
    ['an array', '["os:root"]', { $auditrum: 'invalid', setting: 'auditrum.context', value: ['os:root'] }],
    ['a string', '"os:root"', { $auditrum: 'invalid', setting: 'auditrum.context', value: 'os:root' }],
    ['null', 'null', { $auditrum: 'invalid', setting: 'auditrum.context', value: null }],
    [
      'a NUL escape jsonb refuses',
      '{"actor_id":"a\\u0000b"}',
      { $auditrum: 'invalid', setting: 'auditrum.context', value: '{"actor_id":"a\\u0000b"}' },
    ],
  ];
  for (const [what, value, claimed] of BAD) {
    it(`records a setting that is ${what} as a direct write, the value kept as claimed`, async () => {
      const client = await connect(app.url);
      expect(await writeIn(client, local('auditrum.context', value))).toEqual({
        operation: 'UPDATE',
        actor_id: null,
        request_id: null,
        context: { ...facts(app.name), claimed },
      });
    });
  }

  it("holds a setting to the comment's size limit: at the limit it is read, one byte over it is a marker", async () => {
    const client = await connect(app.url);
    const head = '{"actor_id":"big","reason":"';
    const fits = `${head}${'é'.repeat((16384 - head.length - 2) / 2)}"}`;
    expect(Buffer.byteLength(fits)).toBe(16384);
    expect(await writeIn(client, local('auditrum.context', fits))).toMatchObject({ actor_id: 'big' });
    const over = `${head}${'é'.repeat((16384 - head.length - 2) / 2)}x"}`;
    const hash = (
      await db.pool.query<{ h: string }>("SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex') AS h", [over])
    ).rows[0]?.h;
    expect(await writeIn(client, local('auditrum.context', over))).toEqual({
      operation: 'UPDATE',
      actor_id: null,
      request_id: null,
      context: {
        ...facts(app.name),
        claimed: { $auditrum: 'oversized', setting: 'auditrum.context', bytes: 16385, sha256: hash },
      },
    });
  });

  it('cuts an actor or request id too long for its index instead of failing the write', async () => {
    // Random, so that the index cannot compress it under its 2,704-byte limit.
    const actor = randomBytes(2400).toString('base64');
    const request = randomBytes(2400).toString('base64');
    const client = await connect(app.url);
    expect(
      await writeIn(client, local('auditrum.context', JSON.stringify({ actor_id: actor, request_id: request }))),
    ).toEqual({
      operation: 'UPDATE',
      actor_id: `${actor.slice(0, 255)}…`,
      request_id: `${request.slice(0, 127)}…`,
      context: {},
    });
    const gateway = await connect(urlAs(hasura));
    const user = JSON.stringify({ 'x-hasura-role': 'user', 'x-hasura-user-id': actor });
    expect(await writeIn(gateway, local('hasura.user', user))).toMatchObject({ actor_id: `${actor.slice(0, 255)}…` });
  });

  it('cuts the ids of a hand-written comment too long for their index instead of failing the write', async () => {
    const actor = randomBytes(2400).toString('base64');
    const request = randomBytes(2400).toString('base64');
    const client = await connect(app.url);
    const comment = `/*auditrum:${JSON.stringify({ actor_id: actor, request_id: request, source: 'cli' })}*/`;
    await client.query(`${comment}UPDATE public.${table} SET amount = amount + 1 WHERE id = 2`);
    expect(await lastChange()).toEqual({
      operation: 'UPDATE',
      actor_id: `${actor.slice(0, 255)}…`,
      request_id: `${request.slice(0, 127)}…`,
      context: { source: 'cli' },
    });
  });

  it('does not carry a transaction-local setting into the next transaction on the same connection', async () => {
    const client = await connect(app.url);
    expect(await writeIn(client, local('auditrum.context', JSON.stringify(EXEC_CONTEXT)))).toMatchObject({
      actor_id: 'os:deploy',
    });
    // The setting now exists on the connection with the value '' (PostgreSQL keeps the name once set).
    expect(await writeIn(client)).toEqual({
      operation: 'UPDATE',
      actor_id: null,
      request_id: null,
      context: facts(app.name),
    });
    await client.query(`SET auditrum.context = '${JSON.stringify(EXEC_CONTEXT)}'`);
    await client.query('RESET auditrum.context');
    expect(await writeIn(client)).toEqual({
      operation: 'UPDATE',
      actor_id: null,
      request_id: null,
      context: facts(app.name),
    });
  });
});

describe('gateways: PostgREST, Supabase and Hasura', () => {
  it('reads no gateway setting while the host has it off, and reads them once turned on', async () => {
    const client = await connect(urlAs(authenticator));
    const claims = local('request.jwt.claims', CLAIMS);
    const asUser: [string] = [`SET LOCAL ROLE ${web}`];
    expect((await db.pool.query('SELECT auditrum.read_gateway_settings(false) AS on')).rows).toEqual([{ on: false }]);
    expect(await writeIn(client, asUser, claims)).toMatchObject({ actor_id: null, context: facts(authenticator) });
    await expect(db.pool.query('SELECT auditrum.read_gateway_settings(NULL)')).rejects.toThrow(
      'auditrum: read_gateway_settings() takes true or false, not NULL',
    );
    expect((await db.pool.query('SELECT auditrum.read_gateway_settings(true) AS on')).rows).toEqual([{ on: true }]);
    expect(await writeIn(client, asUser, claims)).toMatchObject({ actor_id: 'u-1', context: { source: 'gateway' } });
    // The application role may not turn it on.
    await expect((await connect(app.url)).query('SELECT auditrum.read_gateway_settings(true)')).rejects.toMatchObject({
      code: '42501',
    });
    await db.pool.query('SELECT auditrum.read_gateway_settings(true)');
  });

  const postgrest = {
    source: 'gateway',
    gateway: 'postgrest',
    role: 'authenticated',
    email: 'a@b.test',
    method: 'PATCH',
    path: '/ledger',
  };

  it("attributes PostgREST's request to its JWT's subject, as the authenticator switched to the user's role", async () => {
    const client = await connect(urlAs(authenticator));
    // What PostgREST sends at the start of each request's transaction.
    const change = await writeIn(
      client,
      [`SET LOCAL ROLE ${web}`],
      local('request.jwt.claims', CLAIMS),
      local('request.method', 'PATCH'),
      local('request.path', '/ledger'),
    );
    expect(change).toEqual({
      operation: 'UPDATE',
      actor_id: 'u-1',
      request_id: null,
      context: { ...facts(authenticator), ...postgrest },
    });
    // The next request on the same connection is anonymous: no subject, the anonymous role.
    expect(await writeIn(client, [`SET LOCAL ROLE ${web}`], local('request.jwt.claims', '{"role":"anon"}'))).toEqual({
      operation: 'UPDATE',
      actor_id: null,
      request_id: null,
      context: { ...facts(authenticator), source: 'gateway', gateway: 'postgrest', role: 'anon' },
    });
    // And a statement with no claims (the settings of the requests before are gone) is a direct write again.
    expect(await writeIn(client, [`SET LOCAL ROLE ${web}`])).toEqual({
      operation: 'UPDATE',
      actor_id: null,
      request_id: null,
      context: facts(authenticator),
    });
  });

  it('reads a subject that is a number, and not the one setting per claim of PostgREST before version 10', async () => {
    const client = await connect(urlAs(authenticator));
    // Not read (docs/context.md): a fourth look-up would cost every write without a context, for versions out of
    // support. Such a write is a direct write.
    expect(
      await writeIn(
        client,
        [`SET LOCAL ROLE ${web}`],
        local('request.jwt.claim.sub', 'u-old'),
        local('request.jwt.claim.role', 'authenticated'),
      ),
    ).toEqual({ operation: 'UPDATE', actor_id: null, request_id: null, context: facts(authenticator) });
    expect(
      await writeIn(
        client,
        [`SET LOCAL ROLE ${web}`],
        local('request.jwt.claims', '{"sub":1234,"role":"authenticated"}'),
      ),
    ).toMatchObject({
      actor_id: '1234',
    });
  });

  it("attributes Hasura's mutation to x-hasura-user-id (every operation)", async () => {
    const client = await connect(urlAs(hasura));
    const hasuraContext = { ...facts(hasura), source: 'gateway', gateway: 'hasura', role: 'user' };
    // Hasura's own statement: SET LOCAL "hasura.user" = '…'.
    expect(await writeIn(client, [`SET LOCAL "hasura.user" = '${HASURA_USER}'`])).toEqual({
      operation: 'UPDATE',
      actor_id: '42',
      request_id: null,
      context: hasuraContext,
    });
    await client.query('BEGIN');
    await client.query(`SET LOCAL "hasura.user" = '${HASURA_USER}'`);
    await client.query(`INSERT INTO public.${table} VALUES (100, 1), (101, 1)`);
    await client.query('COMMIT');
    const { rows } = await db.pool.query<Stored>(
      "SELECT operation, actor_id, request_id, context FROM auditrum.changes WHERE row_key IN ('100', '101') ORDER BY id",
    );
    expect(rows).toEqual([
      { operation: 'INSERT', actor_id: '42', request_id: null, context: hasuraContext },
      { operation: 'INSERT', actor_id: '42', request_id: null, context: hasuraContext },
    ]);
  });

  it('lets auditrum.context win over a gateway, and a comment over both', async () => {
    const client = await connect(urlAs(authenticator));
    expect(
      await writeIn(
        client,
        [`SET LOCAL ROLE ${web}`],
        local('request.jwt.claims', CLAIMS),
        local('auditrum.context', JSON.stringify(EXEC_CONTEXT)),
      ),
    ).toMatchObject({ actor_id: 'os:deploy', context: { source: 'cli' } });
    await client.query('BEGIN');
    await client.query(`SET LOCAL ROLE ${web}`);
    await client.query('SELECT set_config($1, $2, true)', ['request.jwt.claims', CLAIMS]);
    await client.query(`/*auditrum:{"actor_id":"svc"}*/ UPDATE public.${table} SET amount = 0 WHERE id = 1`);
    await client.query('COMMIT');
    expect(await lastChange()).toMatchObject({ actor_id: 'svc', context: {} });
  });

  it("keeps a gateway's user only as claimed when the login role is no application role", async () => {
    const client = await connect(urlAs(outsider));
    expect(await writeIn(client, [`SET LOCAL ROLE ${web}`], local('request.jwt.claims', CLAIMS))).toEqual({
      operation: 'UPDATE',
      actor_id: null,
      request_id: null,
      context: {
        ...facts(outsider),
        claimed: { source: 'gateway', gateway: 'postgrest', actor_id: 'u-1', role: 'authenticated', email: 'a@b.test' },
      },
    });
    expect(await writeIn(client, [`SET LOCAL "hasura.user" = '${HASURA_USER}'`])).toEqual({
      operation: 'UPDATE',
      actor_id: null,
      request_id: null,
      context: { ...facts(outsider), claimed: { source: 'gateway', gateway: 'hasura', actor_id: '42', role: 'user' } },
    });
  });

  it('records bad gateway settings as direct writes with what they said, and never fails the write', async () => {
    const client = await connect(urlAs(authenticator));
    expect(await writeIn(client, [`SET LOCAL ROLE ${web}`], local('request.jwt.claims', 'eyJhbGciOi'))).toEqual({
      operation: 'UPDATE',
      actor_id: null,
      request_id: null,
      context: {
        ...facts(authenticator),
        claimed: { $auditrum: 'invalid', setting: 'request.jwt.claims', value: 'eyJhbGciOi' },
      },
    });
    const huge = JSON.stringify({ sub: 'u-1', user_metadata: 'x'.repeat(20000) });
    expect(await writeIn(client, [`SET LOCAL ROLE ${web}`], local('hasura.user', huge))).toMatchObject({
      actor_id: null,
      context: { source: 'db', claimed: { $auditrum: 'oversized', setting: 'hasura.user', bytes: huge.length } },
    });
  });
});
