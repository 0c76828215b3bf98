import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditrum, validateConfig } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliOutcome } from './run-cli.js';
import { runCli } from './run-cli.js';

// Schemas tracked as a whole (config `schemas`), with the tables created by a non-superuser application role.
const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let dir: string;
let audit: ReturnType<typeof createAuditrum>;

beforeAll(async () => {
  await db.pool.query(`CREATE SCHEMA shop AUTHORIZATION ${pg.escapeIdentifier(role.name)}`);
  app = role.openPool({ max: 1 });
  audit = createAuditrum({ pool: db.pool, partitions: false });
  dir = await mkdtemp(join(tmpdir(), 'auditrum-schemas-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await db.pool.query('DROP SCHEMA shop CASCADE');
});

function cli(args: string[]): Promise<CliOutcome> {
  return runCli(args, { env: { DATABASE_URL: db.url }, cwd: dir });
}

async function useConfig(config: unknown): Promise<void> {
  await writeFile(join(dir, 'auditrum.config.json'), JSON.stringify(config));
}

async function trackedIn(schema: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ name: string }>(
    `SELECT table_name AS name FROM auditrum.tracked_tables WHERE schema_name = $1 AND untracked_at IS NULL ORDER BY 1`,
    [schema],
  );
  return rows.map((row) => row.name);
}

async function newValuesOf(table: string): Promise<unknown[]> {
  const { rows } = await db.pool.query<{ new_values: unknown }>(
    `SELECT c.new_values FROM auditrum.changes c JOIN auditrum.tracked_tables t ON t.id = c.table_id
     WHERE t.schema_name = 'shop' AND t.table_name = $1 ORDER BY c.id`,
    [table],
  );
  return rows.map((row) => row.new_values);
}

const shop = { except: ['sessions'], rules: { exclude: ['secret'] }, trackNew: true };

describe('config "schemas"', () => {
  it('rejects bad input, naming the culprit', () => {
    const cases: [unknown, string][] = [
      [{}, 'give "tables", "schemas" or both'],
      [{ schemas: [] }, '"schemas" must be an object of database schema names to settings'],
      [{ schemas: { shop: true } }, 'schemas["shop"] must be an object ({ except, rules, trackNew })'],
      [
        { schemas: { shop: { exept: ['a'] } } },
        'unknown key "exept" in schemas["shop"] (known: except, rules, trackNew)',
      ],
      [{ schemas: { shop: { except: 'sessions' } } }, 'schemas["shop"].except must be a list of table names'],
      [{ schemas: { shop: { except: [''] } } }, 'schemas["shop"].except must be a list of table names'],
      [{ schemas: { shop: { trackNew: 'yes' } } }, 'schemas["shop"].trackNew must be true or false'],
      [{ schemas: { shop: { rules: { onyl: ['a'] } } } }, 'unknown rule "onyl" for table schemas["shop"].rules'],
      [{ schemas: { shop: { rules: [] } } }, 'rules for table schemas["shop"].rules must be an object'],
      [{ schemas: { ' ': {} } }, 'a schema name in "schemas" is empty'],
    ];
    for (const [config, message] of cases) {
      expect(() => validateConfig(config), message).toThrow(`auditrum: config: ${message}`);
    }
    expect(validateConfig({ schemas: { shop } })).toEqual({ schemas: { shop } });
  });

  it('sync tracks every table of the schema but its exceptions, a table named in "tables" with its own rules', async () => {
    await app.query(`CREATE TABLE shop.orders (id int PRIMARY KEY, total int, secret text);
      CREATE TABLE shop.customers (id int PRIMARY KEY, name text, secret text);
      CREATE TABLE shop.sessions (token text);`);
    await useConfig({ tables: { 'shop.customers': { only: ['name'] } }, schemas: { shop } });
    expect((await cli(['sync', '--check'])).code).toBe(3);
    const applied = await cli(['sync']);
    expect(applied).toMatchObject({ code: 0, stderr: '' });
    expect(applied.stdout).toMatch(/^\+ shop\.\* +\(not registered; new tables tracked as created\)$/m);
    expect(applied.stdout).toMatch(/^\+ shop\.customers +\(not tracked\)$/m);
    expect(applied.stdout).toMatch(/^\+ shop\.orders +\(not tracked\)$/m);
    expect(applied.stdout).not.toContain('sessions');
    expect(await trackedIn('shop')).toEqual(['customers', 'orders']);
    await app.query(`INSERT INTO shop.orders VALUES (1, 10, 's'); INSERT INTO shop.customers VALUES (1, 'n', 's')`);
    expect(await newValuesOf('orders')).toEqual([{ id: 1, total: 10 }]);
    expect(await newValuesOf('customers')).toEqual([{ name: 'n' }]);
    const check = await cli(['sync', '--check']);
    expect(check).toMatchObject({ code: 0, stderr: '' });
    expect(check.stdout).toMatch(/^= shop\.\*$/m);
  });

  it('tracks a table of the schema as it is created; one it cannot track is reported, and its CREATE succeeds', async () => {
    const warnings: string[] = [];
    const client = await app.connect();
    client.on('notice', (notice) => warnings.push(notice.message ?? ''));
    try {
      await client.query('CREATE TABLE shop.refunds (id int PRIMARY KEY, amount int, secret text)');
      await client.query('INSERT INTO shop.refunds VALUES (1, 5, $1)', ['hidden']);
      await client.query('CREATE TABLE shop.sessions_2 (id int PRIMARY KEY)');
      await client.query('CREATE TABLE shop.events (payload text)');
      await client.query('CREATE TABLE shop.report AS SELECT id, total FROM shop.orders');
      await client.query('SELECT * INTO shop.snapshot FROM shop.orders');
    } finally {
      client.release();
    }
    expect(await newValuesOf('refunds')).toEqual([{ id: 1, amount: 5 }]);
    for (const table of ['events', 'report', 'snapshot']) {
      expect(warnings).toContain(
        `auditrum: new table shop.${table} is not tracked: table shop.${table} has no primary key; give its key columns (rule "key")`,
      );
    }
    expect(await trackedIn('shop')).toEqual(['customers', 'orders', 'refunds', 'sessions_2']);

    const status = await audit.status();
    expect(status.tracksNewTables).toBe(true);
    expect(status.schemas).toEqual([
      {
        schema: 'shop',
        except: ['sessions'],
        rules: { exclude: ['secret'] },
        trackNew: true,
        untracked: ['shop.events', 'shop.report', 'shop.snapshot'],
      },
    ]);
    expect((await cli(['status'])).stdout).toMatch(
      /shop +as created +sessions +not tracked: shop\.events, shop\.report, shop\.snapshot/,
    );
    const check = await cli(['sync', '--check']);
    expect(check.code).toBe(3);
    expect(check.stdout).toMatch(/^\+ shop\.events +\(not tracked\)$/m);
    expect(check.stderr).toContain(
      'auditrum: shop.events: its changes are not recorded, and sync cannot repair it: table shop.events has no primary key',
    );
    const sync = await cli(['sync']);
    expect(sync.code).toBe(1);
    expect(sync.stderr).toContain(
      'auditrum: table shop.events has no primary key; give its key columns (rule "key") (a table of schemas["shop"]: give it its own rules in "tables", or leave it out with schemas["shop"].except)',
    );
    await useConfig({
      tables: { 'shop.customers': { only: ['name'] }, 'shop.events': { key: ['payload'] } },
      schemas: { shop: { ...shop, except: ['sessions', 'report', 'snapshot'] } },
    });
    const fixed = await cli(['sync']);
    expect(fixed).toMatchObject({ code: 0, stderr: '' });
    expect(fixed.stdout).toMatch(/^~ shop\.\* +except: \[sessions\] → \[report,sessions,snapshot\]$/m);
    expect(await cli(['sync', '--check'])).toMatchObject({ code: 0 });
  });

  it('without the event trigger, a new table waits for sync, and --check reports it', async () => {
    await db.pool.query('DROP EVENT TRIGGER auditrum_track_new_tables');
    try {
      await app.query('CREATE TABLE shop.coupons (id int PRIMARY KEY, code text)');
      expect(await trackedIn('shop')).not.toContain('coupons');
      expect((await audit.status()).tracksNewTables).toBe(false);
      const check = await cli(['sync', '--check']);
      expect(check.code).toBe(3);
      expect(check.stdout).toMatch(/^\+ shop\.coupons +\(not tracked\)$/m);
      expect((await cli(['sync'])).code).toBe(0);
      expect(await trackedIn('shop')).toContain('coupons');
      expect(await cli(['sync', '--check'])).toMatchObject({ code: 0 });
    } finally {
      await db.pool.query(`CREATE EVENT TRIGGER auditrum_track_new_tables ON ddl_command_end
        WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO') EXECUTE FUNCTION auditrum._track_new_tables()`);
    }
  });

  it('rejects a bad schema entry against the database, changing nothing; --prune forgets a schema', async () => {
    const before = await trackedIn('shop');
    const cases: [unknown, string][] = [
      [{ schemas: { nowhere: {} } }, 'schema "nowhere" does not exist'],
      [{ schemas: { shop: { except: ['sesions'] } } }, 'schemas["shop"].except: table shop.sesions does not exist'],
      [
        { tables: { 'shop.orders': {} }, schemas: { shop: { except: ['orders'] } } },
        'table shop.orders is both in "tables" and in schemas["shop"].except',
      ],
      [{ schemas: { shop: { rules: { only: ['nope'] } } } }, 'column "nope" of table shop.'],
      [
        { schemas: { shop: { rules: { exclude: ['secrte'] } } } },
        'schemas["shop"].rules.exclude: no table of schema shop has a column "secrte"',
      ],
    ];
    for (const [config, message] of cases) {
      await useConfig(config);
      const outcome = await cli(['sync']);
      expect(outcome, message).toMatchObject({ code: 1, stdout: '' });
      expect(outcome.stderr, message).toContain(message);
    }
    expect(await trackedIn('shop')).toEqual(before);

    await useConfig({ tables: { 'shop.customers': { only: ['name'] } } });
    const kept = await cli(['sync', '--check']);
    expect(kept.stdout).toMatch(/^- shop\.\* +\(not in config; kept: pass --prune to forget\)$/m);
    expect((await cli(['sync', '--prune'])).code).toBe(0);
    expect((await audit.status()).schemas).toEqual([]);
  });
});
