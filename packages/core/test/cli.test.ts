import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditStatus } from '@auditrum/core';
import { useTestDatabase } from '@auditrum/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../src/generated/migrations.js';
import type { CliOutcome } from './run-cli.js';
import { runCli } from './run-cli.js';

// The schema version after migrating: the newest migration's number.
const latest = migrations.length;

const db = useTestDatabase();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'auditrum-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the CLI in-process with DATABASE_URL set to the test database (unless `env` says otherwise). */
function cli(args: string[], env: Record<string, string | undefined> = { DATABASE_URL: db.url }): Promise<CliOutcome> {
  return runCli(args, { env, cwd: dir });
}

async function trackedTables(): Promise<string[]> {
  const { rows } = await db.pool.query<{ name: string }>(
    `SELECT format('%I.%I', schema_name, table_name) AS name FROM auditrum.tracked_tables
     WHERE untracked_at IS NULL ORDER BY 1`,
  );
  return rows.map((row) => row.name);
}

async function newValuesOf(table: string): Promise<unknown[]> {
  const { rows } = await db.pool.query<{ new_values: unknown }>(
    `SELECT c.new_values FROM auditrum.changes c JOIN auditrum.tracked_tables t ON t.id = c.table_id
     WHERE t.table_name = $1 ORDER BY c.id`,
    [table],
  );
  return rows.map((row) => row.new_values);
}

async function partitionNames(): Promise<string[]> {
  const { rows } = await db.pool.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'auditrum.changes'::regclass ORDER BY 1`,
  );
  return rows.map((row) => row.name);
}

function monthPartition(monthsAhead: number): string {
  const now = new Date();
  const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + monthsAhead, 1));
  return `changes_p${month.getUTCFullYear()}_${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
}

describe('auditrum CLI', () => {
  it('prints help for every command, and the version', async () => {
    for (const command of ['migrate', 'status', 'track', 'untrack', 'partitions', 'sync']) {
      const outcome = await cli([command, '--help']);
      expect(outcome).toMatchObject({ code: 0, stderr: '' });
      expect(outcome.stdout).toContain(`Usage: auditrum ${command}`);
    }
    expect(await cli(['--version'])).toEqual({ code: 0, stdout: '0.0.0\n', stderr: '' });
  });

  it('migrate reports an up-to-date schema', async () => {
    const outcome = await cli(['migrate']);
    expect(outcome).toEqual({ code: 0, stdout: `schema "auditrum" is up to date at version ${latest}\n`, stderr: '' });
  });

  it('track --only records only that column, and status shows the table and its rules', async () => {
    await db.pool.query('CREATE TABLE t_only (id int PRIMARY KEY, a text, b text)');
    const tracked = await cli(['track', 'public.t_only', '--only', 'a']);
    expect(tracked).toEqual({ code: 0, stdout: 'tracked  public.t_only\n', stderr: '' });
    await db.pool.query(`INSERT INTO t_only VALUES (1, 'x', 'y')`);
    expect(await newValuesOf('t_only')).toEqual([{ a: 'x' }]);

    expect((await cli(['track', 'public.t_only', '--only', 'a'])).stdout).toBe('unchanged  public.t_only\n');

    const text = await cli(['status']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`schema:            auditrum (version ${latest})`);
    expect(text.stdout).toContain('ALTER TABLE:       followed');
    expect(text.stdout).toMatch(/public\.t_only +4\/4 +ok +key: \[id\] {2}only: \[a\]/);
    expect(text.stdout).toMatch(/changes_default +\d+ +DEFAULT/);

    const json = await cli(['status', '--json']);
    const report = JSON.parse(json.stdout) as AuditStatus;
    expect(report).toMatchObject({ schema: 'auditrum', schemaVersion: latest, followsDdl: true });
    expect(report.tables.find((t) => t.table === 'public.t_only')).toMatchObject({
      rules: { key: ['id'], only: ['a'] },
      enabledTriggers: 4,
      drifted: false,
    });
  });

  it('track applies exclude, mask, key and when; --dry-run prints the DDL and changes nothing', async () => {
    await db.pool.query('CREATE TABLE t_rules (code text, secret text, note text, status text)');
    const dry = await cli(['track', 't_rules', '--key', 'code', '--mask', 'secret', '--dry-run']);
    expect(dry.code).toBe(0);
    // Named as found in the search_path the CLI connected with.
    expect(dry.stdout).toContain('-- public.t_rules: would be tracked');
    expect(dry.stdout).toContain('CREATE TRIGGER');
    expect(dry.stdout).toContain('-- dry run: nothing was changed');
    expect(await trackedTables()).not.toContain('public.t_rules');

    const outcome = await cli([
      'track',
      't_rules',
      '--key',
      'code',
      '--exclude',
      'note',
      '--mask',
      'secret',
      '--mask-mode',
      'marker',
      '--when',
      "NEW.status <> 'draft'",
    ]);
    expect(outcome).toMatchObject({ code: 0, stderr: '' });
    await db.pool.query(`INSERT INTO t_rules VALUES ('c1', 's', 'n', 'draft'), ('c2', 's', 'n', 'sent')`);
    const values = (await newValuesOf('t_rules')) as Record<string, unknown>[];
    expect(values).toHaveLength(1);
    expect(values[0]).toMatchObject({ code: 'c2', status: 'sent' });
    expect(values[0]).not.toHaveProperty('note');
    expect(values[0]?.secret).not.toBe('s');
  });

  it('track --schema-all tracks every table of a schema but those in --except', async () => {
    await db.pool.query(`CREATE SCHEMA shop;
      CREATE TABLE shop.a (id int PRIMARY KEY); CREATE TABLE shop.b (id int PRIMARY KEY);
      CREATE TABLE shop.c (id int PRIMARY KEY)`);
    const outcome = await cli(['track', '--schema-all', 'shop', '--except', 'c']);
    expect(outcome).toEqual({ code: 0, stdout: 'tracked  shop.a\ntracked  shop.b\n', stderr: '' });
    expect((await trackedTables()).filter((t) => t.startsWith('shop.'))).toEqual(['shop.a', 'shop.b']);
  });

  it('untrack stops auditing; --dry-run changes nothing', async () => {
    await db.pool.query('CREATE TABLE t_gone (id int PRIMARY KEY)');
    await cli(['track', 't_gone']);
    const dry = await cli(['untrack', 'public.t_gone', '--dry-run']);
    expect(dry.stdout).toContain('-- public.t_gone: would be untracked');
    expect(dry.stdout).toContain('DROP TRIGGER');
    expect(await trackedTables()).toContain('public.t_gone');
    expect(await cli(['untrack', 'public.t_gone'])).toEqual({
      code: 0,
      stdout: 'untracked  public.t_gone\n',
      stderr: '',
    });
    expect(await trackedTables()).not.toContain('public.t_gone');
    await db.pool.query('INSERT INTO t_gone VALUES (1)');
    // Only the untracking itself is recorded (a DDL row), not the insert after it.
    expect(await newValuesOf('t_gone')).toEqual([expect.objectContaining({ event: 'untracked' })]);
  });

  it('partitions creates the monthly partitions ahead, then reports them up to date', async () => {
    const outcome = await cli(['partitions', '--ahead', '5']);
    expect(outcome).toEqual({
      code: 0,
      stdout: `created ${monthPartition(4)}\ncreated ${monthPartition(5)}\n`,
      stderr: '',
    });
    expect(await partitionNames()).toEqual(expect.arrayContaining([0, 1, 2, 3, 4, 5].map(monthPartition)));
    expect(await cli(['partitions'])).toEqual({ code: 0, stdout: 'partitions up to date\n', stderr: '' });
  });

  it('sync applies a TypeScript config, --check passes, and fails with the diff once the config changes', async () => {
    await db.pool.query(`CREATE TABLE s_users (id int PRIMARY KEY, name text, email text, phone text);
      CREATE TABLE s_orders (id int PRIMARY KEY, status text, updated_at timestamptz)`);
    const config = (usersOnly: string) => `import type {} from 'node:fs';
const config: { tables: Record<string, object> } = {
  tables: {
    'public.s_users': { only: ${usersOnly} },
    's_orders': { exclude: ['updated_at'], when: "NEW.status <> 'draft'" },
  },
};
export default config;
`;
    await writeFile(join(dir, 'auditrum.config.ts'), config(`['name', 'email']`));
    const applied = await cli(['sync']);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/^\+ public\.s_orders +\(not tracked\)$/m);
    expect(applied.stdout).toMatch(/^\+ public\.s_users +\(not tracked\)$/m);
    expect(applied.stdout).toMatch(/^- public\.t_only +\(not in config; kept: pass --prune to untrack\)$/m);
    expect(applied.stdout).toContain('applied: 2 table(s) changed');
    await db.pool.query(`INSERT INTO s_users VALUES (1, 'n', 'e', 'p');
      INSERT INTO s_orders VALUES (1, 'draft', now()), (2, 'paid', now())`);
    expect(await newValuesOf('s_users')).toEqual([{ name: 'n', email: 'e' }]);
    expect(await newValuesOf('s_orders')).toEqual([{ id: 2, status: 'paid' }]);

    const check = await cli(['sync', '--check']);
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/^= public\.s_users$/m);
    expect(check.stdout).toContain('in sync');

    await writeFile(join(dir, 'auditrum.config.ts'), config(`['name', 'email', 'phone']`));
    const before = await trackedTables();
    const drift = await cli(['sync', '--check']);
    expect(drift.code).toBe(3);
    expect(drift.stdout).toMatch(/^~ public\.s_users +only: \[name,email\] → \[name,email,phone\]$/m);
    expect(drift.stdout).toMatch(/^= public\.s_orders$/m);
    expect(drift.stdout).toContain('out of sync');
    expect(await trackedTables()).toEqual(before);
    const stillOld = await cli(['status', '--json']);
    expect(
      (JSON.parse(stillOld.stdout) as AuditStatus).tables.find((t) => t.table === 'public.s_users')?.rules.only,
    ).toEqual(['name', 'email']);

    const dry = await cli(['sync', '--dry-run', '--prune']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^- public\.t_only +\(not in config\)$/m);
    expect(dry.stdout).toContain('nothing was changed');
    expect(await trackedTables()).toEqual(before);
  });

  it('sync --prune untracks tables absent from a JSON config given with --config', async () => {
    await db.pool.query('CREATE TABLE p_keep (id int PRIMARY KEY); CREATE TABLE p_drop (id int PRIMARY KEY)');
    await cli(['track', 'p_keep', 'p_drop']);
    const tracked = (await trackedTables()).filter((t) => t !== 'public.p_drop');
    const tables = Object.fromEntries(tracked.map((t) => [t, {}]));
    // Keep the rules of the tables tracked by other tests, so that only p_drop differs.
    const { rows } = await db.pool.query<{ name: string; rules: Record<string, unknown> }>(
      `SELECT format('%I.%I', schema_name, table_name) AS name, rules FROM auditrum.tracked_tables
       WHERE untracked_at IS NULL`,
    );
    for (const row of rows) {
      if (!(row.name in tables)) continue;
      const { mask_mode: maskMode, ...rest } = row.rules;
      tables[row.name] = maskMode === undefined ? rest : { ...rest, maskMode };
    }
    await writeFile(join(dir, 'prune.json'), JSON.stringify({ tables }));
    expect((await cli(['sync', '--config', 'prune.json', '--check', '--prune'])).code).toBe(3);
    const outcome = await cli(['sync', '--config', 'prune.json', '--prune']);
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toMatch(/^- public\.p_drop +\(not in config\)$/m);
    expect(outcome.stdout).toContain('applied: 1 table(s) changed');
    expect(await trackedTables()).toEqual(tracked);
    expect(await cli(['sync', '--config', 'prune.json', '--check', '--prune'])).toMatchObject({ code: 0 });
  });
});

describe('auditrum CLI on bad input', () => {
  it('rejects an unknown command, an unknown flag and a bad --ahead with exit code 2', async () => {
    const partitions = await partitionNames();
    const unknownCommand = await cli(['frobnicate']);
    expect(unknownCommand).toMatchObject({ code: 2, stdout: '' });
    expect(unknownCommand.stderr).toContain("auditrum: unknown command 'frobnicate'");

    const unknownFlag = await cli(['status', '--verbose']);
    expect(unknownFlag).toMatchObject({ code: 2, stdout: '' });
    expect(unknownFlag.stderr).toContain("auditrum: unknown option '--verbose'");

    for (const ahead of ['x', '121', '-1', '2.5']) {
      const outcome = await cli(['partitions', '--ahead', ahead]);
      expect(outcome).toMatchObject({ code: 2, stdout: '' });
      expect(outcome.stderr).toContain('expected a whole number from 0 to 120');
    }
    const badMode = await cli(['track', 't_only', '--mask', 'a', '--mask-mode', 'rot13']);
    expect(badMode.code).toBe(2);
    expect(badMode.stderr).toContain("argument 'rot13' is invalid");
    expect((await cli(['track'])).stderr).toContain('give the tables to track, or --schema-all');
    expect(await partitionNames()).toEqual(partitions);
  });

  it('needs a database: exit 2 without --url or DATABASE_URL, exit 1 quickly for an unreachable one', async () => {
    expect(await cli(['status'], {})).toEqual({
      code: 2,
      stdout: '',
      stderr: 'auditrum: no database: pass --url or set DATABASE_URL\n(add --help for usage)\n',
    });
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    const started = Date.now();
    const outcome = await cli(['status', '--url', `postgres://nobody@127.0.0.1:${port}/nothing`], {});
    expect(outcome).toMatchObject({ code: 1, stdout: '' });
    expect(outcome.stderr).toBe(
      `auditrum: cannot connect to the database at 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('reports a missing table, an unknown column, a bad --when and a missing key with exit code 1, changing nothing', async () => {
    await db.pool.query(`CREATE TABLE b_ok (id int PRIMARY KEY, a text); CREATE TABLE b_nokey (a text)`);
    const before = await trackedTables();
    const cases: [string[], string][] = [
      [['track', 'b_ok', 'public.missing'], 'auditrum: table "public.missing" does not exist\n'],
      [
        ['track', 'b_ok', '--only', 'nope'],
        'auditrum: column "nope" of table public.b_ok does not exist (in rule "only")\n',
      ],
      [['track', 'b_ok', '--when', 'NEW.nope > 1'], 'auditrum: invalid "when" condition for table public.b_ok: '],
      [['track', 'b_ok', '--when', 'true; DROP TABLE b_ok'], 'without ";"'],
      [
        ['track', 'b_ok', 'b_nokey'],
        'auditrum: table public.b_nokey has no primary key; give its key columns (rule "key")\n',
      ],
      [['untrack', 'public.missing'], 'auditrum: table "public.missing" does not exist\n'],
    ];
    for (const [args, message] of cases) {
      const outcome = await cli(args);
      expect(outcome, args.join(' ')).toMatchObject({ code: 1, stdout: '' });
      expect(outcome.stderr, args.join(' ')).toContain(message);
      expect(outcome.stderr).not.toContain('    at ');
    }
    expect(await trackedTables()).toEqual(before);
  });

  it('refuses an option given twice that takes a value (Commander kept the last): exit 2, nothing done', async () => {
    const before = await trackedTables();
    for (const [args, option] of [
      [['purge', '--older-than', '13 months', '--dry-run', '--older-than', '1 day'], '--older-than'],
      [['erase', '--actor-id', '42', '--actor-id', '43', '--reason', 'r', '--dry-run'], '--actor-id'],
      [['--schema', 'auditrum', 'status', '--schema', 'elsewhere'], '--schema'],
      [['track', 'public.x', '--only=a', '--only', 'b'], '--only'],
      [['app-role', 'add', 'x', '--url', db.url, '--url', db.url], '--url'],
    ] as const) {
      const outcome = await cli([...args]);
      expect(outcome, args.join(' ')).toMatchObject({ code: 2, stdout: '' });
      expect(outcome.stderr).toContain(`auditrum: ${option} was given more than once: give it once`);
    }
    expect(await trackedTables()).toEqual(before);
    // A flag may repeat; --webhook-header adds a header each time.
    expect((await cli(['status', '--json', '--json'])).code).toBe(0);
  });

  it('refuses an empty --schema, or one longer than PostgreSQL keeps, before connecting (exit 2)', async () => {
    const long = 'a'.repeat(64);
    for (const [schema, message] of [
      ['', '--schema: Invalid Auditrum schema name "": it must not be empty'],
      [long, `--schema: Invalid Auditrum schema name "${long}": it is 64 bytes long`],
    ] as const) {
      for (const command of ['doctor', 'harden', 'migrate']) {
        const outcome = await cli([
          '--schema',
          schema,
          command,
          ...(command === 'harden' ? ['--app-role', 'x', '--admin-role', 'y'] : []),
        ]);
        expect(outcome, `${command} --schema ${schema}`).toMatchObject({ code: 2, stdout: '' });
        expect(outcome.stderr).toContain(message);
      }
    }
  });

  it('reports a schema without Auditrum, suggesting migrate', async () => {
    const outcome = await cli(['--schema', 'not_there', 'status']);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain('run "auditrum migrate"');
  });

  it('rejects a bad config file with exit code 1, naming the culprit, and applies none of it', async () => {
    await db.pool.query('CREATE TABLE c_good (id int PRIMARY KEY, a text)');
    const before = await trackedTables();
    const cases: [unknown, string][] = [
      [{ tabels: {} }, 'unknown key "tabels" (known: schema, tables, schemas)'],
      [{ tables: [] }, '"tables" must be an object'],
      [{ tables: { c_good: { only: 'a' } } }, 'rule "only" for table c_good must be a list of column names'],
      [{ tables: { c_good: { onyl: ['a'] } } }, 'unknown rule "onyl" for table c_good'],
      [{ tables: { c_good: {}, 'public.c_missing': {} } }, 'table "public.c_missing" does not exist'],
      [
        { tables: { c_good: {}, 'public.b_ok': { only: ['zzz'] } } },
        'column "zzz" of table public.b_ok does not exist',
      ],
      [{ tables: { c_good: {}, 'public.c_good': {} } }, 'table public.c_good is named twice'],
    ];
    for (const [config, message] of cases) {
      await writeFile(join(dir, 'bad.json'), JSON.stringify(config));
      for (const flags of [[], ['--check']]) {
        const outcome = await cli(['sync', '--config', 'bad.json', ...flags]);
        expect(outcome, message).toMatchObject({ code: 1, stdout: '' });
        expect(outcome.stderr, message).toContain(message);
      }
    }
    await writeFile(join(dir, 'broken.json'), '{ "tables": ');
    const broken = await cli(['sync', '--config', 'broken.json']);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain(`auditrum: cannot load config ${join(dir, 'broken.json')}: `);
    const missing = await cli(['sync', '--config', 'nowhere.json']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nowhere.json');
    expect(await trackedTables()).toEqual(before);
  });
});
