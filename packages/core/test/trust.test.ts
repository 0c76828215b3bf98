import { randomBytes } from 'node:crypto';
import {
  connectionTrust,
  createAuditrum,
  migrate,
  sync,
  UNTRUSTED_ROLE_WARNING,
  withAuditContext,
} from '@auditrum/core';
import { useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliOutcome } from './run-cli.js';
import { runCli } from './run-cli.js';

// Who may give context: the application roles. Every role here is a non-superuser; the schemas are installed by
// them, as in production (the one-role set-up: the app migrates and owns its tables; the two-role set-up: an owner
// migrates and owns, the app runs with DML grants).
const db = useTestDatabase();
const suffix = randomBytes(4).toString('hex');
const app = `trust_app_${suffix}`; // one-role set-up: migrates schema one_${suffix}, owns table items
const intruder = `trust_intruder_${suffix}`; // may UPDATE items, may SET ROLE app (without inheriting its rights)
const owner = `trust_owner_${suffix}`; // two-role set-up: migrates schema two_${suffix}, owns table orders
const runner = `trust_runner_${suffix}`; // two-role set-up: the application at run time
const roles = [app, intruder, owner, runner];
const one = `one_${suffix}`;
const items = `data_${suffix}.items`; // the app's own table, in its own schema
const two = `two_${suffix}`;
const pools: pg.Pool[] = [];
const PASSWORD = 'trust-test';

function urlAs(role: string): string {
  const url = new URL(db.url);
  url.username = role;
  url.password = PASSWORD;
  return url.toString();
}

function poolAs(role: string, max = 2): pg.Pool {
  const pool = new pg.Pool({ connectionString: urlAs(role), max, application_name: `trust-${role.split('_')[1]}` });
  pool.on('error', () => undefined);
  pools.push(pool);
  return pool;
}

interface Stored {
  actor_id: string | null;
  request_id: string | null;
  context: Record<string, unknown>;
}

async function lastChange(schema: string): Promise<Stored> {
  const { rows } = await db.pool.query<Stored>(
    `SELECT actor_id, request_id, context FROM ${schema}.changes ORDER BY id DESC LIMIT 1`,
  );
  if (!rows[0]) throw new Error(`no change in ${schema}`);
  return rows[0];
}

/** Collects the process warnings with Auditrum's code while `work` runs and until every pool in `idle` has answered. */
async function warningsDuring(work: () => Promise<void>, idle: pg.Pool[]): Promise<string[]> {
  const seen: string[] = [];
  const listener = (warning: Error & { code?: string }) => {
    if (warning.code === UNTRUSTED_ROLE_WARNING) seen.push(warning.message);
  };
  process.on('warning', listener);
  try {
    await work();
    // Each pool has one connection, so a query queued now answers after the background check's current query;
    // the check makes at most two in a row, so three rounds see it through.
    for (const pool of idle) for (let round = 0; round < 3; round += 1) await pool.query('SELECT 1');
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return seen;
}

const FORGED = '/*auditrum:{"actor_id":"ceo","request_id":"r-1","source":"http","reason":"approved"}*/';

beforeAll(async () => {
  for (const role of roles) await db.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD '${PASSWORD}'`);
  // The intruder may SET ROLE to the app but does not inherit its rights (a member that inherits the schema
  // owner's rights is the owner, and may change the trusted roles).
  await db.pool.query(`ALTER ROLE ${intruder} NOINHERIT`);
  await db.pool.query(`GRANT CREATE ON DATABASE ${db.name} TO ${app}, ${owner}`);
  await db.pool.query(`GRANT ${app} TO ${intruder}`);

  const appPool = poolAs(app, 1);
  await migrate(appPool, { schema: one });
  await appPool.query(`CREATE SCHEMA data_${suffix}`);
  await appPool.query(`CREATE TABLE ${items} (id int PRIMARY KEY, name text)`);
  await appPool.query(`INSERT INTO ${items} VALUES (1, 'a'), (2, 'b')`);
  await createAuditrum({ pool: appPool, schema: one, partitions: false }).track(items);
  await appPool.query(`GRANT USAGE ON SCHEMA data_${suffix} TO ${intruder}`);
  await appPool.query(`GRANT SELECT, UPDATE ON ${items} TO ${intruder}`);

  const ownerPool = poolAs(owner, 1);
  await migrate(ownerPool, { schema: two });
  await ownerPool.query(`CREATE SCHEMA shop_${suffix}`);
  await ownerPool.query(`CREATE TABLE shop_${suffix}.orders (id int PRIMARY KEY, status text)`);
  await ownerPool.query(`GRANT USAGE ON SCHEMA shop_${suffix} TO ${runner}`);
  await ownerPool.query(`GRANT SELECT, INSERT, UPDATE ON shop_${suffix}.orders TO ${runner}`);
  await createAuditrum({ pool: ownerPool, schema: two, partitions: false }).track(`shop_${suffix}.orders`);
});

afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.end()));
  for (const role of roles) {
    await db.pool.query(`DROP OWNED BY ${role}`).catch(() => undefined);
    await db.pool.query(`DROP ROLE IF EXISTS ${role}`);
  }
});

describe('trusted context: only the application roles', () => {
  it('trusts the role that migrated the schema, with no step', async () => {
    const appPool = poolAs(app, 1);
    await withAuditContext({ actor: { id: 'alice' }, requestId: 'req-app', reason: 'rename' }, () =>
      appPool.query(`UPDATE ${items} SET name = 'a2' WHERE id = 1`),
    );
    expect(await lastChange(one)).toEqual({
      actor_id: 'alice',
      request_id: 'req-app',
      context: { reason: 'rename', source: 'app' },
    });
  });

  it("keeps another role's comment as claimed, beside the real database user, with no actor", async () => {
    const intruderPool = poolAs(intruder, 1);
    await intruderPool.query(`${FORGED} UPDATE ${items} SET name = 'forged' WHERE id = 2`);
    const change = await lastChange(one);
    expect(change).toMatchObject({ actor_id: null, request_id: null });
    expect(change.context).toEqual({
      source: 'db',
      db_user: intruder,
      application_name: 'trust-intruder',
      client_addr: '127.0.0.1',
      claimed: { actor_id: 'ceo', request_id: 'r-1', source: 'http', reason: 'approved' },
    });
  });

  it('compares the login role: SET ROLE to the application role does not make a comment trusted', async () => {
    const client = await poolAs(intruder, 1).connect();
    try {
      await client.query(`SET ROLE ${app}`);
      await client.query(`${FORGED} UPDATE ${items} SET name = 'as app' WHERE id = 2`);
    } finally {
      client.release(true);
    }
    const change = await lastChange(one);
    expect(change).toMatchObject({ actor_id: null, request_id: null });
    expect(change.context).toMatchObject({ source: 'db', db_user: intruder, claimed: { actor_id: 'ceo' } });
  });

  it('trusts a role once added, and no longer once removed; only the schema owner may change the list', async () => {
    const appAudit = createAuditrum({ pool: poolAs(app, 1), schema: one, partitions: false });
    const intruderPool = poolAs(intruder, 1);
    await expect(
      createAuditrum({ pool: intruderPool, schema: one, partitions: false }).addApplicationRole(intruder),
    ).rejects.toThrow(`auditrum: only the owner of schema "${one}" may change its application roles`);

    expect(await appAudit.addApplicationRole(intruder)).toEqual({ role: intruder, action: 'added' });
    expect(await appAudit.addApplicationRole(intruder)).toEqual({ role: intruder, action: 'unchanged' });
    await intruderPool.query(`${FORGED} UPDATE ${items} SET name = 'trusted' WHERE id = 2`);
    expect(await lastChange(one)).toEqual({
      actor_id: 'ceo',
      request_id: 'r-1',
      context: { source: 'http', reason: 'approved' },
    });

    expect(await appAudit.removeApplicationRole(intruder)).toEqual({ role: intruder, action: 'removed' });
    expect(await appAudit.removeApplicationRole(intruder)).toEqual({ role: intruder, action: 'unchanged' });
    await intruderPool.query(`${FORGED} UPDATE ${items} SET name = 'untrusted again' WHERE id = 2`);
    expect(await lastChange(one)).toMatchObject({ actor_id: null, context: { source: 'db', db_user: intruder } });
  });

  it('refuses bad roles with a clear error and changes nothing', async () => {
    const appAudit = createAuditrum({ pool: poolAs(app, 1), schema: one, partitions: false });
    await expect(appAudit.addApplicationRole('no_such_role_x')).rejects.toThrow(
      'auditrum: database role "no_such_role_x" does not exist',
    );
    await expect(appAudit.addApplicationRole('')).rejects.toThrow('auditrum: a database role name is required');
    await expect(appAudit.removeApplicationRole('no_such_role_x')).rejects.toThrow('does not exist');
    const { rows } = await db.pool.query(`SELECT role_name::text AS name FROM ${one}.application_roles`);
    expect(rows.map((row) => row.name)).toEqual([app]);
  });

  it('runs the two-role set-up (owner migrates, app runs) after the one documented step', async () => {
    const ownerAudit = createAuditrum({ pool: poolAs(owner, 1), schema: two, partitions: false });
    const runnerPool = poolAs(runner, 1);
    // Before the step: the app's context is only claimed, and the app may not write the API log.
    await withAuditContext({ actor: { id: 'bob' }, requestId: 'req-before' }, () =>
      runnerPool.query(`INSERT INTO shop_${suffix}.orders VALUES (1, 'new')`),
    );
    expect(await lastChange(two)).toMatchObject({
      actor_id: null,
      context: { source: 'db', db_user: runner, claimed: { actor_id: 'bob', request_id: 'req-before' } },
    });

    expect((await ownerAudit.addApplicationRole(runner)).action).toBe('added');

    await withAuditContext({ actor: { id: 'bob' }, requestId: 'req-after' }, () =>
      runnerPool.query(`UPDATE shop_${suffix}.orders SET status = 'paid' WHERE id = 1`),
    );
    expect(await lastChange(two)).toEqual({ actor_id: 'bob', request_id: 'req-after', context: { source: 'app' } });
    // What the API log's writer does, with the grants the step gave.
    await runnerPool.query(
      `INSERT INTO ${two}.api_requests (requested_at, request_id, method, path, duration_ms) VALUES (now(), 'req-after', 'GET', '/', 1)`,
    );
    expect(await connectionTrust(runnerPool, two)).toEqual({
      role: runner,
      installed: true,
      trusted: true,
    });
  });

  it('reports a renamed application role as drift, and sync repairs it', async () => {
    const renamed = `${runner}_renamed`;
    const ownerPool = poolAs(owner, 1);
    const ownerAudit = createAuditrum({ pool: ownerPool, schema: two, partitions: false });
    await db.pool.query(`ALTER ROLE ${runner} RENAME TO ${renamed}`);
    try {
      const before = await ownerAudit.status();
      expect(before.tables.map((t) => t.drifted)).toEqual([true]);
      expect(before.applicationRoles.map((role) => role.name)).toContain(renamed);
      await sync(ownerPool, two, { tables: { [`shop_${suffix}.orders`]: {} } });
      expect((await ownerAudit.status()).tables.map((t) => t.drifted)).toEqual([false]);
      const { rows } = await db.pool.query<{ src: string }>(
        `SELECT prosrc AS src FROM pg_proc WHERE pronamespace = $1::regnamespace AND proname LIKE 'capture\\_%'`,
        [two],
      );
      expect(rows[0]?.src).toContain(`'${renamed}'`);
    } finally {
      await db.pool.query(`ALTER ROLE ${renamed} RENAME TO ${runner}`);
      await sync(ownerPool, two, { tables: { [`shop_${suffix}.orders`]: {} } });
    }
  });
});

describe('a misconfiguration is loud', () => {
  it('status says whether the connecting role is trusted', async () => {
    // A monitoring role that may read the schema, as status needs.
    await db.pool.query(`GRANT USAGE ON SCHEMA ${one} TO ${intruder}`);
    await db.pool.query(`GRANT SELECT ON ALL TABLES IN SCHEMA ${one} TO ${intruder}`);
    const status = await createAuditrum({ pool: poolAs(intruder, 1), schema: one, partitions: false }).status();
    expect(status.connection).toEqual({ role: intruder, installed: true, trusted: false });
    expect(status.applicationRoles.map((role) => [role.name, role.exists])).toEqual([[app, true]]);
  });

  it('warns once at start-up and after migrate() when the pool connects as another role, and never blocks', async () => {
    const intruderPool = poolAs(intruder, 1);
    let audit: ReturnType<typeof createAuditrum> | undefined;
    const warned = await warningsDuring(async () => {
      audit = createAuditrum({ pool: intruderPool, schema: one, partitions: false });
    }, [intruderPool]);
    expect(warned).toEqual([
      `auditrum: the application connects as database role "${intruder}", which is not an application role: ` +
        `its changes are stored as direct database writes and their context only as claimed; ` +
        `run \`auditrum app-role add ${intruder}\` as the schema owner`,
    ]);
    // The write goes on all the same, and its context is kept as claimed.
    await withAuditContext({ actor: { id: 'eve' } }, () =>
      intruderPool.query(`UPDATE ${items} SET name = 'x' WHERE id = 2`),
    );
    expect(await lastChange(one)).toMatchObject({ actor_id: null, context: { claimed: { actor_id: 'eve' } } });
    expect(audit).toBeDefined();
  });

  it('says nothing for an application role, nor before the schema is installed', async () => {
    const appPool = poolAs(app, 1);
    const quiet = await warningsDuring(async () => {
      createAuditrum({ pool: appPool, schema: one, partitions: false });
      createAuditrum({ pool: appPool, schema: `missing_${suffix}`, partitions: false });
    }, [appPool]);
    expect(quiet).toEqual([]);
  });

  it('checks again after migrate(), and still warns only once', async () => {
    // The schema is installed by another role (the superuser, trusted as the one that migrated) and handed to
    // the app's role, which was never added: its migrate() finds nothing to do, then warns.
    const schema = `late_${suffix}`;
    const appPool = poolAs(app, 1);
    const audit = createAuditrum({ pool: appPool, schema, partitions: false });
    expect(await warningsDuring(async () => undefined, [appPool])).toEqual([]); // not installed yet: nothing to say
    await migrate(db.pool, { schema });
    await db.pool.query(`ALTER SCHEMA ${schema} OWNER TO ${app}`);
    await db.pool.query(`GRANT SELECT ON ${schema}.schema_migrations TO ${app}`);
    try {
      const warned = await warningsDuring(async () => {
        expect((await audit.migrate()).applied).toEqual([]);
        await audit.migrate();
      }, [appPool]);
      expect(warned).toHaveLength(1);
      expect(warned[0]).toContain(`database role "${app}", which is not an application role`);
    } finally {
      await db.pool.query(`DROP SCHEMA ${schema} CASCADE`);
    }
  });
});

describe('auditrum app-role and status', () => {
  function cli(args: string[], role = app): Promise<CliOutcome> {
    return runCli(['--schema', one, ...args], { env: { DATABASE_URL: urlAs(role) }, cwd: process.cwd() });
  }

  it('adds, lists and removes application roles', async () => {
    expect(await cli(['app-role', 'add', runner])).toMatchObject({ code: 0, stdout: `added ${runner}\n` });
    expect(await cli(['app-role', 'add', runner])).toMatchObject({
      code: 0,
      stdout: `${runner} is already an application role\n`,
    });
    const listed = await cli(['app-role', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^ +ROLE +ADDED +BY\\n +${app} .*\\n +${runner} .* ${app}\\n$`));
    expect(await cli(['app-role', 'remove', runner])).toMatchObject({ code: 0, stdout: `removed ${runner}\n` });
    expect(await cli(['app-role', 'remove', runner])).toMatchObject({
      code: 0,
      stdout: `${runner} is not an application role\n`,
    });
  });

  it('refuses an unknown role, a missing argument and a caller that is not the owner', async () => {
    expect(await cli(['app-role', 'add', 'no_such_role_x'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'auditrum: database role "no_such_role_x" does not exist\n',
    });
    const missing = await cli(['app-role', 'add']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'role'");
    const bare = await cli(['app-role']);
    expect(bare.code).toBe(2);
    const refused = await cli(['app-role', 'add', intruder], intruder);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`only the owner of schema "${one}" may change its application roles`);
  });

  it('status prints the application roles and whether this connection is trusted', async () => {
    const trusted = await cli(['status']);
    expect(trusted.stdout).toContain(`app roles:         ${app}\n`);
    expect(trusted.stdout).toContain(`context from this connection (${app}): trusted\n`);
    const untrusted = await cli(['status'], intruder);
    expect(untrusted.stdout).toContain(
      `context from this connection (${intruder}): NOT trusted: run \`auditrum app-role add ${intruder}\` as the schema owner\n`,
    );
  });
});
