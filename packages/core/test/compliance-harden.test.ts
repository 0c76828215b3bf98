import { randomBytes } from 'node:crypto';
import { createAuditrum, purge } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiLogWriter } from '../src/request-log/api-log-writer.js';
import { apiRequestRecord } from './api-request-fixture.js';
import type { CliOutcome } from './run-cli.js';
import { runCli } from './run-cli.js';

// The usual set-up (the schema migrated by a superuser, so the guard's event triggers exist; the application's
// tables created and owned by its non-superuser role, tracked by the superuser), then hardened with an admin role.
const db = useTestDatabase();
const role = useAppRole(db);
const adminName = `admin_${randomBytes(5).toString('hex')}`;
const adminPassword = randomBytes(9).toString('hex');
let app: pg.Pool;
let admin: pg.Pool;
let tableId: number;
let month: string;

function cli(args: string[]): Promise<CliOutcome> {
  return runCli(args, { env: { DATABASE_URL: db.url }, cwd: process.cwd() });
}

/** Every owner and ACL in the Auditrum schema, and the schema's own: what harden changes. */
async function privileges(): Promise<unknown[]> {
  const { rows } = await db.pool.query(
    `SELECT 'schema' AS kind, nspname::text AS name, pg_get_userbyid(nspowner)::text AS owner, nspacl::text AS acl
     FROM pg_namespace WHERE nspname = 'auditrum'
     UNION ALL
     SELECT 'relation', c.relname, pg_get_userbyid(c.relowner), c.relacl::text
     FROM pg_class c WHERE c.relnamespace = 'auditrum'::regnamespace
     UNION ALL
     SELECT 'function', p.oid::regprocedure::text, pg_get_userbyid(p.proowner), p.proacl::text
     FROM pg_proc p WHERE p.pronamespace = 'auditrum'::regnamespace
     ORDER BY 1, 2`,
  );
  return rows;
}

beforeAll(async () => {
  await db.pool.query(`CREATE ROLE ${pg.escapeIdentifier(adminName)} LOGIN PASSWORD '${adminPassword}'`);
  app = role.openPool({ max: 2 });
  const adminUrl = new URL(db.url);
  adminUrl.username = adminName;
  adminUrl.password = adminPassword;
  admin = db.openPool({ connectionString: adminUrl.toString(), max: 2 });
  await app.query('CREATE TABLE orders (id int PRIMARY KEY, status text)');
  const tracked = await db.pool.query<{ id: number }>(`SELECT (auditrum.track('orders')->>'table_id')::int AS id`);
  tableId = tracked.rows[0]?.id as number;
  const { rows } = await db.pool.query<{ month: string }>(
    `SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM') AS month`,
  );
  month = rows[0]?.month as string;
  await app.query(`INSERT INTO orders VALUES (1, 'new')`);
});

afterAll(async () => {
  await Promise.all([app, admin].map((pool) => pool.end()));
  const name = pg.escapeIdentifier(adminName);
  // Give back what the admin owns before it goes (the database is dropped after the file anyway).
  await db.pool.query(`REASSIGN OWNED BY ${name} TO postgres; DROP OWNED BY ${name}; DROP ROLE ${name}`);
});

describe('auditrum harden: bad input changes nothing', () => {
  it.each([
    [['--app-role', 'no_such_role_x', '--admin-role', adminName], '--app-role: role "no_such_role_x" does not exist'],
    [['--admin-role', 'no_such_role_y', '--app-role', ''], '--app-role: give a role name'],
    [['--app-role', 'APP', '--admin-role', adminName], '--app-role: role "APP" does not exist'],
    [
      ['--admin-role', 'no_such_role_y', '--app-role', 'postgres'],
      '--admin-role: role "no_such_role_y" does not exist',
    ],
    [['--app-role', 'postgres', '--admin-role', adminName], 'is a superuser: no privilege can be taken from it'],
    [['--app-role', adminName, '--admin-role', adminName], 'must be two different roles'],
    [['--admin-role', adminName], "required option '--app-role <role>' not specified"],
  ])('harden %j: exit 2 saying so', async (args, message) => {
    const before = await privileges();
    const result = await cli(['harden', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
    expect(await privileges()).toEqual(before);
  });

  it('refuses an application role that is a member of the admin role', async () => {
    const before = await privileges();
    await db.pool.query(`GRANT ${pg.escapeIdentifier(adminName)} TO ${pg.escapeIdentifier(role.name)}`);
    try {
      const result = await cli(['harden', '--app-role', role.name, '--admin-role', adminName]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`is a member of the admin role "${adminName}"`);
      expect(await privileges()).toEqual(before);
    } finally {
      await db.pool.query(`REVOKE ${pg.escapeIdentifier(adminName)} FROM ${pg.escapeIdentifier(role.name)}`);
    }
  });

  it('refuses an application role that could give itself the rights harden takes', async () => {
    const app = pg.escapeIdentifier(role.name);
    for (const [grant, revoke, message] of [
      [`ALTER ROLE ${app} CREATEROLE`, `ALTER ROLE ${app} NOCREATEROLE`, 'has CREATEROLE'],
      [
        `GRANT SET ON PARAMETER session_replication_role TO ${app}`,
        `REVOKE SET ON PARAMETER session_replication_role FROM ${app}`,
        'may set session_replication_role, which silences every trigger',
      ],
      // It could rewrite the change log and record false purges, whatever harden revokes.
      [
        `GRANT pg_write_all_data TO ${app}`,
        `REVOKE pg_write_all_data FROM ${app}`,
        'is a member of pg_write_all_data: it may write every table, the logs included',
      ],
      // It could read the keys of settings, and with the guard's drop capture triggers past the guard.
      [
        `GRANT pg_read_all_data TO ${app}`,
        `REVOKE pg_read_all_data FROM ${app}`,
        'is a member of pg_read_all_data: it may read settings, the masking keys and the guard',
      ],
    ] as const) {
      const before = await privileges();
      await db.pool.query(grant);
      try {
        const result = await cli(['harden', '--app-role', role.name, '--admin-role', adminName]);
        expect(result.code).toBe(2);
        expect(result.stderr).toContain(message);
        expect(await privileges()).toEqual(before);
      } finally {
        await db.pool.query(revoke);
      }
    }
  });

  it('quotes a role name that needs it (quotes, a semicolon, SQL in it)', async () => {
    const odd = `Odd "Role"; DROP TABLE orders; ${adminName.slice(-4)}`;
    const quoted = pg.escapeIdentifier(odd);
    await db.pool.query(`CREATE ROLE ${quoted}`);
    try {
      const before = await privileges();
      const dry = await cli(['harden', '--app-role', odd, '--admin-role', adminName, '--dry-run']);
      expect(dry).toMatchObject({ code: 0, stderr: '' });
      expect(dry.stdout).toContain(`GRANT USAGE ON SCHEMA "auditrum" TO ${quoted};`);
      expect(await privileges()).toEqual(before);
    } finally {
      await db.pool.query(`DROP ROLE ${quoted}`);
    }
  });

  it('refuses a schema that does not exist', async () => {
    const result = await cli(['harden', '--schema', 'nowhere', '--app-role', role.name, '--admin-role', adminName]);
    expect(result).toMatchObject({ code: 2, stderr: expect.stringContaining('schema "nowhere" does not exist') });
  });
});

describe('auditrum harden', () => {
  beforeAll(async () => {
    // The original's holes, made here so that harden must close them: a partition's own ACL granting writes (its
    // REVOKE covered the parent only), the registry left writable.
    await db.pool.query(
      `GRANT INSERT, UPDATE, DELETE ON auditrum.changes_p${month} TO ${pg.escapeIdentifier(role.name)}`,
    );
    await db.pool.query(`GRANT UPDATE, DELETE ON auditrum.tracked_tables TO ${pg.escapeIdentifier(role.name)}`);
    await db.pool.query(`GRANT INSERT ON auditrum.changes_default TO PUBLIC`);
  });

  it('--dry-run prints the SQL and changes nothing', async () => {
    const before = await privileges();
    const result = await cli(['harden', '--app-role', role.name, '--admin-role', adminName, '--dry-run']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain(`ALTER SCHEMA "auditrum" OWNER TO "${adminName}";`);
    expect(result.stdout).toContain(`ALTER TABLE "auditrum"."changes_p${month}" OWNER TO "${adminName}";`);
    expect(result.stdout).toContain(`REVOKE ALL ON ALL TABLES IN SCHEMA "auditrum" FROM PUBLIC, "${role.name}";`);
    expect(result.stdout).toContain(`GRANT INSERT ON "auditrum".api_requests TO "${role.name}";`);
    expect(result.stdout).toMatch(/-- dry run: nothing was changed\n$/);
    expect(await privileges()).toEqual(before);
  });

  it('applies, and running it again changes nothing', async () => {
    const first = await cli(['harden', '--app-role', role.name, '--admin-role', adminName]);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toContain(`hardened: ${role.name} can no longer change or remove history`);
    const after = await privileges();
    expect(await cli(['harden', '--app-role', role.name, '--admin-role', adminName])).toMatchObject({ code: 0 });
    expect(await privileges()).toEqual(after);
    // Everything in the schema is the admin role's.
    const { rows } = await db.pool.query<{ owner: string }>(
      `SELECT DISTINCT owner::text FROM (
         SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relnamespace = 'auditrum'::regnamespace
         UNION SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE pronamespace = 'auditrum'::regnamespace
         UNION SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'auditrum') o`,
    );
    expect(rows).toEqual([{ owner: adminName }]);
  });

  describe('the application role, after harden', () => {
    const forbidden: [string, string, RegExp][] = [
      [
        'updates a change (rewrites its context)',
        `UPDATE auditrum.changes SET context = '{"forged":1}'`,
        /permission denied/,
      ],
      ['deletes changes', 'DELETE FROM auditrum.changes', /permission denied/],
      ['truncates the change log', 'TRUNCATE auditrum.changes', /permission denied/],
      [
        'inserts a forged change',
        `INSERT INTO auditrum.changes (table_id, operation, row_key) VALUES (1, 'INSERT', '9')`,
        /permission denied/,
      ],
      [
        'writes a partition directly (its own ACL had granted it)',
        `UPDATE auditrum.changes_p{month} SET actor_id = 'x'`,
        /permission denied/,
      ],
      [
        'inserts into a partition directly',
        `INSERT INTO auditrum.changes_p{month} (table_id, operation) VALUES (1, 'DELETE')`,
        /permission denied/,
      ],
      [
        'inserts into the default partition (PUBLIC had been granted it)',
        `INSERT INTO auditrum.changes_default (table_id, operation) VALUES (1, 'DELETE')`,
        /permission denied/,
      ],
      ['truncates a partition', 'TRUNCATE auditrum.changes_p{month}', /permission denied/],
      ['updates the API log', `UPDATE auditrum.api_requests SET status = 200`, /permission denied/],
      ['deletes from the API log', 'DELETE FROM auditrum.api_requests', /permission denied/],
      ['truncates the API log', 'TRUNCATE auditrum.api_requests', /permission denied/],
      ['deletes from an API-log partition', 'DELETE FROM auditrum.api_requests_p{month}', /permission denied/],
      [
        'detaches a partition',
        'ALTER TABLE auditrum.changes DETACH PARTITION auditrum.changes_p{month}',
        /must be owner/,
      ],
      ['drops a partition', 'DROP TABLE auditrum.changes_p{month}', /must be owner/],
      ['alters a partition', 'ALTER TABLE auditrum.changes_p{month} DISABLE TRIGGER ALL', /must be owner/],
      [
        'creates a table in the schema',
        'CREATE TABLE auditrum.changes_p2999_01 (LIKE auditrum.changes)',
        /permission denied/,
      ],
      ['untracks a table', `SELECT auditrum.untrack('orders')`, /permission denied/],
      [
        'marks a table untracked in the registry (made writable before)',
        'UPDATE auditrum.tracked_tables SET untracked_at = now()',
        /permission denied/,
      ],
      ['deletes from the registry', 'DELETE FROM auditrum.tracked_tables', /permission denied/],
      [
        'adds itself to the trusted roles',
        'INSERT INTO auditrum.application_roles VALUES (1, $$x$$)',
        /permission denied/,
      ],
      ['reads the masking and guard keys', 'SELECT * FROM auditrum.settings', /permission denied/],
      [
        "rewrites a month's ids (to hide its changes from a window of time)",
        'UPDATE auditrum.month_ids SET first_ids = last_ids',
        /permission denied/,
      ],
      ['summarizes the months itself', 'SELECT auditrum._summarize_months()', /permission denied/],
      ['tracks a table', `SELECT auditrum.track('orders')`, /permission denied/],
      ['lets its own DDL past the guard', 'SELECT auditrum._allow_capture_ddl(true)', /permission denied/],
      ['reinstalls capture functions', 'SELECT auditrum._install({table})', /permission denied/],
      ['writes a DDL row', `SELECT auditrum._record_capture_ddl({table}, 'x', 'y', NULL)`, /permission denied/],
      ['computes the guard proof', `SELECT auditrum._ddl_mac('capture_ddl')`, /permission denied/],
      ['trusts another role', `SELECT auditrum.add_application_role('postgres')`, /permission denied/],
      ['silences every trigger with replica mode', 'SET session_replication_role = replica', /permission denied/],
      [
        'disables a capture trigger of its own table',
        'ALTER TABLE orders DISABLE TRIGGER auditrum_capture_insert',
        /refused/,
      ],
      ['disables every trigger of its own table', 'ALTER TABLE orders DISABLE TRIGGER ALL', /refused/],
      ['drops a capture trigger of its own table', 'DROP TRIGGER auditrum_capture_update ON orders', /refused/],
    ];

    it.each(forbidden)('cannot: %s', async (_what, sql, error) => {
      const statement = sql.replaceAll('{month}', month).replaceAll('{table}', String(tableId));
      await expect(app.query(statement)).rejects.toThrow(error);
    });

    it("may drop a tracked table of its own, and the drop is the table's last row in the log", async () => {
      await app.query('CREATE TABLE drop_me (id int PRIMARY KEY)');
      await db.pool.query(`SELECT auditrum.track('drop_me')`);
      await app.query('INSERT INTO drop_me VALUES (1)');
      await app.query('DROP TABLE drop_me');
      const { rows } = await admin.query(
        `SELECT operation, row_key, new_values, context->>'db_user' AS db_user FROM auditrum.change_log
         WHERE table_name = 'drop_me' ORDER BY id`,
      );
      expect(rows).toEqual([
        { operation: 'INSERT', row_key: '1', new_values: { id: 1 }, db_user: role.name },
        {
          operation: 'DDL',
          row_key: null,
          new_values: { event: 'table_dropped', ddl: 'DROP TABLE public.drop_me;' },
          db_user: role.name,
        },
      ]);
    });

    it("reads the months' ids, as any role that may use the schema (a window of time of the changes list)", async () => {
      await expect(app.query('SELECT count(*) FROM auditrum.month_ids')).resolves.toBeDefined();
      const other = await db.pool.query<{ readable: boolean }>(
        `SELECT has_table_privilege('public', 'auditrum.month_ids', 'SELECT') AS readable`,
      );
      expect(other.rows).toEqual([{ readable: true }]);
    });

    it("cannot purge: retention is the admin role's", async () => {
      const count = 'SELECT count(*)::int AS n FROM auditrum.changes';
      const before = (await admin.query(count)).rows;
      await expect(purge(app, 'auditrum', { olderThan: '1 day' })).rejects.toThrow(/permission denied/);
      expect((await admin.query(count)).rows).toEqual(before);
      await expect(purge(app, 'auditrum', { olderThan: '1 day', dryRun: true })).rejects.toThrow(/permission denied/);
    });

    it('cannot attach a capture function to a table of its own to forge change rows', async () => {
      await app.query('CREATE TABLE fake_orders (id int PRIMARY KEY, status text)');
      await expect(
        app.query(
          `CREATE TRIGGER forge AFTER INSERT ON fake_orders REFERENCING NEW TABLE AS new_rows
           FOR EACH STATEMENT EXECUTE FUNCTION auditrum.capture_${tableId}()`,
        ),
      ).rejects.toThrow(/permission denied for function (auditrum\.)?capture_/);
    });

    it('executes only readers, the partition functions and the cluster adoption; nothing else it may run has the owner rights', async () => {
      const { rows } = await db.pool.query<{ name: string; definer: boolean }>(
        `SELECT p.proname::text AS name, p.prosecdef AS definer FROM pg_proc p
         WHERE p.pronamespace = 'auditrum'::regnamespace AND has_function_privilege($1, p.oid, 'EXECUTE')
         ORDER BY 1`,
        [role.name],
      );
      expect(rows.filter((r) => r.definer).map((r) => r.name)).toEqual([
        '_adopt_continued_cluster',
        'ensure_api_request_partitions',
        'ensure_partitions',
      ]);
      const names = rows.map((r) => r.name);
      expect(names).toEqual(
        expect.arrayContaining(['row_as_of', 'table_as_of', 'field_history', 'row_key', '_capture_problems']),
      );
      for (const internal of [
        'track',
        'untrack',
        '_install',
        '_base_install',
        '_reinstall_all',
        '_follow_ddl',
        '_allow_capture_ddl',
        '_record_capture_ddl',
        'add_application_role',
      ]) {
        expect(names).not.toContain(internal);
      }
    });

    it('still gets its writes audited with its context, writes the API log, and reads history', async () => {
      const audit = createAuditrum({ pool: app, partitions: false });
      // The app's start-up migrate() finds the schema up to date.
      expect(await audit.migrate()).toMatchObject({ applied: [] });
      await audit.withContext({ actor: { id: 'u-7' }, requestId: 'req-7' }, () =>
        app.query(`UPDATE orders SET status = 'paid' WHERE id = 1`),
      );
      const { rows } = await admin.query(
        `SELECT operation, row_key, old_values, new_values, actor_id, request_id FROM auditrum.changes
         WHERE table_id = $1 ORDER BY id DESC LIMIT 1`,
        [tableId],
      );
      expect(rows).toEqual([
        {
          operation: 'UPDATE',
          row_key: '1',
          old_values: { status: 'new' },
          new_values: { status: 'paid' },
          actor_id: 'u-7',
          request_id: 'req-7',
        },
      ]);
      // The middleware's own writer (COPY into the parent table).
      const errors: unknown[] = [];
      const writer = new ApiLogWriter(app, 'auditrum', {}, (error) => errors.push(error));
      writer.push(
        apiRequestRecord('req-7', {
          method: 'POST',
          path: '/orders/1',
          route: '/orders/:id',
          durationMs: 3,
          actorId: 'u-7',
        }),
      );
      await writer.close();
      expect(errors).toEqual([]);
      expect(writer.stats()).toMatchObject({ written: 1, dropped: 0, failed: 0 });
      const logged = await admin.query(
        `SELECT method, path, actor_id FROM auditrum.api_requests WHERE request_id = 'req-7'`,
      );
      expect(logged.rows).toEqual([{ method: 'POST', path: '/orders/1', actor_id: 'u-7' }]);
      const state = await audit.rowAsOf({ table: 'orders', key: 1, at: new Date() });
      expect(state).toMatchObject({ exists: true, values: { id: 1, status: 'paid' } });
      const status = await audit.status();
      expect(status.tables.find((t) => t.table === 'public.orders')).toMatchObject({
        enabledTriggers: 4,
        problems: [],
      });
      expect(status.connection).toMatchObject({ role: role.name, trusted: true });
      await audit.close();
    });

    it('keeps partitions ahead with the admin role owning them, with no grants of their own', async () => {
      // Default privileges of the admin role that would hand the application every new table of the schema.
      const defaults = `FOR ROLE ${pg.escapeIdentifier(adminName)} IN SCHEMA auditrum`;
      await db.pool.query(
        `ALTER DEFAULT PRIVILEGES ${defaults} GRANT ALL ON TABLES TO ${pg.escapeIdentifier(role.name)}`,
      );
      // (They are in force: a table the admin role creates gets the grant.)
      await admin.query('CREATE TABLE auditrum.probe (id int)');
      const probe = await admin.query<{ acl: string }>(
        `SELECT relacl::text AS acl FROM pg_class WHERE relname = 'probe'`,
      );
      await admin.query('DROP TABLE auditrum.probe');
      expect(probe.rows[0]?.acl).toContain(role.name);
      const { rows } = await app
        .query<{ created: string[] }>('SELECT auditrum.ensure_partitions(6) AS created')
        .finally(() =>
          db.pool.query(
            `ALTER DEFAULT PRIVILEGES ${defaults} REVOKE ALL ON TABLES FROM ${pg.escapeIdentifier(role.name)}`,
          ),
        );
      expect(rows[0]?.created.length).toBeGreaterThan(0);
      const created = rows[0]?.created ?? [];
      const owners = await db.pool.query<{ name: string; owner: string; acl: string | null }>(
        `SELECT relname::text AS name, pg_get_userbyid(relowner)::text AS owner, relacl::text AS acl FROM pg_class
         WHERE relnamespace = 'auditrum'::regnamespace AND relname = ANY ($1::text[]) ORDER BY 1`,
        [created],
      );
      expect(owners.rows.map((r) => r.owner)).toEqual(created.map(() => adminName));
      expect(owners.rows.map((r) => r.acl?.includes(role.name) ?? false)).toEqual(created.map(() => false));
      await expect(app.query(`DELETE FROM auditrum.${pg.escapeIdentifier(created.at(-1) as string)}`)).rejects.toThrow(
        /permission denied/,
      );
    });
  });

  it('the admin role reads history and runs the CLI', async () => {
    const adminAudit = createAuditrum({ pool: admin, partitions: false });
    const history = await adminAudit.fieldHistory({ table: 'orders', key: 1, field: 'status' });
    expect(history.map((entry) => entry.value)).toEqual(['new', 'paid']);
    await adminAudit.close();
    const adminUrl = new URL(db.url);
    adminUrl.username = adminName;
    adminUrl.password = adminPassword;
    const doctor = await runCli(['doctor', '--url', adminUrl.toString()], { env: {}, cwd: process.cwd() });
    expect(doctor).toMatchObject({ code: 0, stderr: '' });
    expect(doctor.stdout).toMatch(new RegExp(`ok +append_only +auditrum +only ${adminName} may change the logs`));
  });

  it('doctor says whether the guard refuses, and names a disabled guard trigger as a problem', async () => {
    const ok = await cli(['doctor']);
    expect(ok.stdout).toMatch(/ok +guard +auditrum +dropping, disabling or replacing a capture trigger is refused/);
    await db.pool.query('ALTER EVENT TRIGGER auditrum_capture_guard_drop DISABLE');
    try {
      const found = await cli(['doctor']);
      expect(found.code).toBe(3);
      expect(found.stdout).toMatch(/PROBLEM +guard +auditrum +event trigger auditrum_capture_guard_drop is disabled/);
    } finally {
      await db.pool.query('ALTER EVENT TRIGGER auditrum_capture_guard_drop ENABLE');
    }
    // ENABLE REPLICA: it fires only where session_replication_role is replica, so nowhere else; doctor said ok.
    await db.pool.query('ALTER EVENT TRIGGER auditrum_capture_guard ENABLE REPLICA');
    try {
      const found = await cli(['doctor']);
      expect(found.code).toBe(3);
      expect(found.stdout).toMatch(
        /PROBLEM +guard +auditrum +event trigger auditrum_capture_guard fires only for replication \(ENABLE REPLICA\)/,
      );
    } finally {
      await db.pool.query('ALTER EVENT TRIGGER auditrum_capture_guard ENABLE');
    }
  });

  it('doctor names a grant made after harden and a function a later migration left open; harden again closes both', async () => {
    await db.pool.query(`GRANT UPDATE ON auditrum.changes_p${month} TO ${pg.escapeIdentifier(role.name)}`);
    // As a later migration would: a SECURITY DEFINER function, executable by PUBLIC by PostgreSQL's default.
    await db.pool.query(
      `CREATE FUNCTION auditrum._later_helper() RETURNS void LANGUAGE sql SECURITY DEFINER AS 'SELECT'`,
    );
    const found = await cli(['doctor', '--json']);
    expect(found.code).toBe(3);
    expect(JSON.parse(found.stdout).checks).toContainEqual({
      check: 'append_only',
      subject: 'auditrum',
      status: 'problem',
      detail: `PUBLIC may EXECUTE auditrum._later_helper(); ${role.name} may UPDATE auditrum.changes_p${month}`,
    });
    expect(await cli(['harden', '--app-role', role.name, '--admin-role', adminName])).toMatchObject({ code: 0 });
    expect(await cli(['doctor'])).toMatchObject({ code: 0 });
    await expect(app.query('SELECT auditrum._later_helper()')).rejects.toThrow(/permission denied/);
  });

  it('doctor names a role made a member of pg_write_all_data or pg_read_all_data after harden: it writes the logs or reads the keys past their grants', async () => {
    const appRole = pg.escapeIdentifier(role.name);
    await db.pool.query(`GRANT pg_write_all_data, pg_read_all_data TO ${appRole}`);
    try {
      await expect(app.query(`UPDATE auditrum.changes SET actor_id = 'mallory' WHERE false`)).resolves.toBeDefined();
      const found = await cli(['doctor', '--json']);
      // It was 'ok' (exit 0): the check read the logs' grants alone.
      expect(found.code).toBe(3);
      expect(JSON.parse(found.stdout).checks).toContainEqual({
        check: 'append_only',
        subject: 'auditrum',
        status: 'problem',
        detail: `${role.name} may read auditrum.settings (a member of pg_read_all_data); ${role.name} may write every table (a member of pg_write_all_data)`,
      });
    } finally {
      await db.pool.query(`REVOKE pg_write_all_data, pg_read_all_data FROM ${appRole}`);
    }
    expect(await cli(['doctor'])).toMatchObject({ code: 0 });
  });

  it('doctor names the application role made a member of the admin role after harden: it can change history', async () => {
    const [appRole, adminRole] = [role.name, adminName].map((name) => pg.escapeIdentifier(name));
    await db.pool.query(`GRANT ${adminRole} TO ${appRole}`);
    try {
      // What the membership gives: the admin's rights, history's deletion among them.
      await expect(app.query(`SELECT count(*) FROM auditrum.settings`)).resolves.toBeDefined();
      const found = await cli(['doctor', '--json']);
      // It was 'not enabled' (the one-role set-up, before harden), exit 0.
      expect(found.code).toBe(3);
      expect(JSON.parse(found.stdout).checks).toContainEqual({
        check: 'append_only',
        subject: 'auditrum',
        status: 'problem',
        detail: `the application role ${role.name} is a member of ${adminName}, the owner of the logs, and can change history (REVOKE ${adminRole} FROM ${appRole})`,
      });
    } finally {
      await db.pool.query(`REVOKE ${adminRole} FROM ${appRole}`);
    }
    expect(await cli(['doctor'])).toMatchObject({ code: 0 });
  });
});
