import { randomBytes } from 'node:crypto';
import { createAuditrum, migrate } from '@auditrum/core';
import { createAdminRoutes } from '@auditrum/core/admin';
import { useEmptyDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliOutcome } from './run-cli.js';
import { runCli } from './run-cli.js';

// The one-role set-up that harden starts from: the application's own non-superuser role migrated the schema (so
// no event triggers: the guard is absent), owns it and its tables, and tracks them. Harden hands the schema to an
// admin role; what the table's owner can still do to stop capture is then detected by doctor and, when repaired,
// recorded in the log itself.
const db = useEmptyDatabase();
const suffix = randomBytes(5).toString('hex');
const appName = `app1_${suffix}`;
const adminName = `admin1_${suffix}`;
const password = randomBytes(9).toString('hex');
let app: pg.Pool;
let adminUrl: string;

function urlAs(user: string): string {
  const url = new URL(db.url);
  url.username = user;
  url.password = password;
  return url.toString();
}

function cli(args: string[], url = db.url): Promise<CliOutcome> {
  return runCli([...args, '--url', url], { env: {}, cwd: process.cwd() });
}

beforeAll(async () => {
  for (const name of [appName, adminName]) {
    await db.pool.query(`CREATE ROLE ${pg.escapeIdentifier(name)} LOGIN PASSWORD '${password}'`);
  }
  const appRole = pg.escapeIdentifier(appName);
  await db.pool.query(`GRANT CREATE ON DATABASE ${pg.escapeIdentifier(db.name)} TO ${appRole}`);
  await db.pool.query(`GRANT CREATE ON SCHEMA public TO ${appRole}`);
  app = db.openPool({ connectionString: urlAs(appName), max: 2 });
  adminUrl = urlAs(adminName);
  await migrate(app);
  await app.query('CREATE TABLE accounts (id int PRIMARY KEY, balance int)');
  await app.query(`SELECT auditrum.track('accounts')`);
});

afterAll(async () => {
  await app.end();
  for (const name of [appName, adminName].map((n) => pg.escapeIdentifier(n))) {
    await db.pool.query(`REASSIGN OWNED BY ${name} TO postgres; DROP OWNED BY ${name}; DROP ROLE ${name}`);
  }
});

describe('the one-role set-up, hardened', () => {
  it('starts with no guard, the application role able to rewrite history', async () => {
    const { rows } = await app.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM pg_event_trigger WHERE evtname LIKE 'auditrum%'`,
    );
    expect(rows[0]?.count).toBe(0);
    await app.query(`INSERT INTO accounts VALUES (1, 100)`);
    // What harden takes away: the owner of the log may rewrite it. Doctor says so, without failing (it is the
    // one-role set-up's design, not a fault).
    await app.query(`BEGIN; UPDATE auditrum.changes SET actor_id = 'someone else'; ROLLBACK`);
    const doctor = await cli(['doctor', '--json']);
    expect(doctor.code).toBe(0);
    expect(JSON.parse(doctor.stdout).checks).toContainEqual({
      check: 'append_only',
      subject: 'auditrum',
      status: 'not_enabled',
      detail: `the application role ${appName} owns the logs and can change history (run "auditrum harden")`,
    });
  });

  it('after harden, the application role cannot rewrite or remove history, nor silence triggers with replica mode', async () => {
    const result = await cli(['harden', '--app-role', appName, '--admin-role', adminName]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    await expect(app.query(`UPDATE auditrum.changes SET actor_id = 'someone else'`)).rejects.toThrow(
      /permission denied/,
    );
    await expect(app.query('DELETE FROM auditrum.changes')).rejects.toThrow(/permission denied/);
    await expect(app.query(`SELECT auditrum.untrack('accounts')`)).rejects.toThrow(/permission denied/);
    await expect(app.query('SET session_replication_role = replica')).rejects.toThrow(/permission denied/);
    await app.query(`UPDATE accounts SET balance = 90 WHERE id = 1`);
    const { rows } = await db.pool.query('SELECT operation, new_values FROM auditrum.changes ORDER BY id');
    expect(rows).toEqual([
      { operation: 'INSERT', new_values: { id: 1, balance: 100 } },
      { operation: 'UPDATE', new_values: { balance: 90 } },
    ]);
  });

  it('doctor (as the admin role) finds nothing wrong, and says the chain is not enabled', async () => {
    const result = await cli(['doctor'], adminUrl);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/ok +capture +public\.accounts +capture triggers present and enabled/);
    expect(result.stdout).toMatch(/ok +partitions +changes /);
    expect(result.stdout).toMatch(new RegExp(`ok +append_only +auditrum +only ${adminName} may change the logs`));
    expect(result.stdout).toMatch(/not enabled +guard +auditrum +no event triggers \(migrated without a superuser\)/);
    expect(result.stdout).toMatch(
      /not enabled +chain +chain +never sealed \(\d+ row\(s\) to seal\): run auditrum seal on a schedule/,
    );
    expect(result.stdout).toContain('no problems found');
  });

  it("without the guard the table's owner can still stop capture: doctor exits 3 naming each problem", async () => {
    await app.query('ALTER TABLE accounts DISABLE TRIGGER auditrum_capture_insert');
    await app.query('DROP TRIGGER auditrum_capture_delete ON accounts');
    await app.query(`INSERT INTO accounts VALUES (2, 5)`);
    const result = await cli(['doctor', '--json'], adminUrl);
    expect(result.code).toBe(3);
    const report = JSON.parse(result.stdout);
    expect(report.ok).toBe(false);
    expect(report.checks).toContainEqual({
      check: 'capture',
      subject: 'public.accounts',
      status: 'problem',
      detail: 'trigger auditrum_capture_insert is disabled; trigger auditrum_capture_delete is missing',
    });
    const text = await cli(['doctor'], adminUrl);
    expect(text.code).toBe(3);
    expect(text.stdout).toContain('1 problem(s) found');
  });

  it('the repair is recorded in the log as a DDL row naming what was wrong, shown as such by change_log', async () => {
    // The table is the application's: re-creating and enabling its triggers takes its owner's rights or a superuser's.
    await db.pool.query(`SELECT auditrum.track('accounts')`);
    expect((await cli(['doctor'], adminUrl)).code).toBe(0);
    const admin = db.openPool({ connectionString: adminUrl, max: 1 });
    const { rows } = await admin.query(
      `SELECT table_name, operation, row_key, old_values, new_values->>'event' AS event, context->>'db_user' AS db_user
       FROM auditrum.change_log ORDER BY id DESC LIMIT 1`,
    );
    await admin.end();
    expect(rows).toEqual([
      {
        table_name: 'accounts',
        operation: 'DDL',
        row_key: null,
        old_values: {
          problems: ['trigger auditrum_capture_delete is missing', 'trigger auditrum_capture_insert is disabled'],
        },
        event: 'capture_repaired',
        db_user: 'postgres',
      },
    ]);
  });

  it('the admin API, mounted in the application, lists the repair as a DDL change', async () => {
    const routes = createAdminRoutes({ pool: app, authorize: () => true });
    const response = await routes({
      method: 'GET',
      path: 'api/changes',
      query: new URLSearchParams({ table: 'public.accounts' }),
      headers: {},
      basePath: '/audit',
      raw: {},
    });
    expect(response.status).toBe(200);
    const page = JSON.parse(String(response.body)) as { items: { operation: string; rowKey: string | null }[] };
    expect(page.items.map((c) => [c.operation, c.rowKey])).toEqual([
      ['DDL', null],
      ['UPDATE', '1'],
      ['INSERT', '1'],
    ]);
    // The operation filter takes DDL, in any table, and only DDL rows.
    const filtered = await routes({
      method: 'GET',
      path: 'api/changes',
      query: new URLSearchParams({ operation: 'ddl' }),
      headers: {},
      basePath: '/audit',
      raw: {},
    });
    const ddlPage = JSON.parse(String(filtered.body)) as { items: { operation: string; table: string }[] };
    expect(ddlPage.items.map((c) => [c.operation, c.table])).toEqual([['DDL', 'accounts']]);
  });

  it('a DDL row later in the log is no conflict for reverting a change of the table', async () => {
    const { rows } = await db.pool.query<{ id: string }>(
      `SELECT id::text FROM auditrum.changes WHERE operation = 'UPDATE' ORDER BY id DESC LIMIT 1`,
    );
    // As the application (the admin mounted in it), whose context is trusted and which may write its table.
    const audit = createAuditrum({ pool: app, partitions: false });
    const result = await audit.revert(rows[0]?.id as string, { reason: 'wrong balance' });
    await audit.close();
    expect(result).toMatchObject({ applied: true, plan: { conflicts: [] } });
    expect((await db.pool.query('SELECT balance FROM accounts WHERE id = 1')).rows).toEqual([{ balance: 100 }]);
  });

  it('doctor reports a missing partition ahead, and --ahead bounds how far it looks', async () => {
    const { rows } = await db.pool.query<{ name: string }>(
      `SELECT 'changes_p' || to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '2 months', 'YYYY_MM') AS name`,
    );
    const name = rows[0]?.name as string;
    await db.pool.query(`DROP TABLE auditrum.${pg.escapeIdentifier(name)}`);
    const result = await cli(['doctor', '--ahead', '3'], adminUrl);
    expect(result.code).toBe(3);
    expect(result.stdout).toMatch(new RegExp(`PROBLEM +partitions +changes +missing ${name}: rows go to the default`));
    expect((await cli(['doctor', '--ahead', '1'], adminUrl)).code).toBe(0);
    // The admin role keeps partitions: it owns the log.
    expect(await cli(['partitions', '--ahead', '3'], adminUrl)).toMatchObject({ code: 0, stdout: `created ${name}\n` });
    expect((await cli(['doctor', '--ahead', '3'], adminUrl)).code).toBe(0);
  });

  it.each([
    [['--ahead', 'x'], 'expected a whole number from 0 to 120'],
    [['--ahead', '121'], 'expected a whole number from 0 to 120'],
    [['--ahead', '-1'], 'expected a whole number from 0 to 120'],
  ])('doctor %j: exit 2', async (args, message) => {
    const result = await cli(['doctor', ...args], adminUrl);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });
});
