import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createAuditrum } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `auditrum exec` as a user runs it: the real CLI process from the TypeScript source, running real commands (node
// scripts with pg, psql) that write through a non-superuser application role, and one that is not an application role.
const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const sourceHooks = new URL('../../../test/source-hooks.ts', import.meta.url).href;
const pgModule = import.meta.resolve('pg');
const coreModule = new URL('../src/index.ts', import.meta.url).href;
const db = useTestDatabase();
const app = useAppRole(db);
const suffix = randomBytes(4).toString('hex');
const outsider = `exec_outsider_${suffix}`;
const PASSWORD = randomBytes(9).toString('hex');
const table = `jobs_${suffix}`;
const psql = findPsql();

function findPsql(): string | undefined {
  try {
    execFileSync('psql', ['--version'], { stdio: 'ignore' });
    return 'psql';
  } catch {
    return undefined;
  }
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The pid of the auditrum process. */
  pid: number;
}

/** Runs `auditrum <args>` as a process of its own, with `env` added to a clean environment. */
function auditrum(
  args: string[],
  env: Record<string, string> = {},
  whileRunning?: (pid: number) => void,
): Promise<Run> {
  const child = spawn(
    process.execPath,
    ['--experimental-transform-types', '--no-warnings', '--import', sourceHooks, main, ...args],
    { env: { PATH: process.env.PATH ?? '', USER: 'tester', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  // Called once, when the command has printed "ready".
  let onReady = whileRunning;
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (onReady && stdout.includes('ready\n')) {
      onReady(child.pid as number);
      onReady = undefined;
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, pid: child.pid as number }));
  });
}

/** A node script (ES module) that runs `sql` through node-postgres on $TARGET_URL, then prints `extra`'s result. */
function nodeScript(sql: string, extra = "''"): string[] {
  return [
    'node',
    '--input-type=module',
    '-e',
    `const { default: pg } = await import(${JSON.stringify(pgModule)});
     const client = new pg.Client({ connectionString: process.env.TARGET_URL, application_name: 'backfill' });
     await client.connect();
     await client.query(${JSON.stringify(sql)});
     const shown = ${extra};
     if (shown) console.log(shown);
     await client.end();`,
  ];
}

interface Stored {
  row_key: string;
  actor_id: string | null;
  context: Record<string, unknown>;
}

async function changesOf(key: string): Promise<Stored[]> {
  const { rows } = await db.pool.query<Stored>(
    'SELECT row_key, actor_id, context FROM auditrum.changes WHERE row_key = $1 ORDER BY id',
    [key],
  );
  return rows;
}

function urlAs(role: string): string {
  const url = new URL(db.url);
  url.username = role;
  url.password = PASSWORD;
  return url.toString();
}

beforeAll(async () => {
  await db.pool.query(`CREATE ROLE ${outsider} LOGIN PASSWORD '${PASSWORD}'`);
  const owner = app.openPool({ max: 1 });
  await owner.query(`CREATE TABLE public.${table} (id int PRIMARY KEY, state text NOT NULL)`);
  await owner.query(`GRANT SELECT, INSERT ON public.${table} TO ${outsider}`);
  await owner.end();
  await createAuditrum({ pool: db.pool, partitions: false }).track(`public.${table}`);
});

afterAll(async () => {
  await db.pool.query(`DROP OWNED BY ${outsider}`);
  await db.pool.query(`DROP ROLE ${outsider}`);
});

describe('auditrum exec: the writes of the command it runs', () => {
  it("records a node script's writes with source cli, the reason and the operating-system user", async () => {
    const run = await auditrum(
      ['exec', '--reason', 'backfill #123', '--', ...nodeScript(`INSERT INTO public.${table} VALUES (1, 'new')`)],
      { TARGET_URL: app.url },
    );
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(await changesOf('1')).toEqual([
      {
        row_key: '1',
        actor_id: 'os:tester',
        context: {
          source: 'cli',
          reason: 'backfill #123',
          os_user: 'tester',
          hostname: hostname(),
          // The program only: its arguments can hold secrets.
          command: 'node',
          pid: run.pid,
        },
      },
    ]);
  });

  it.skipIf(psql === undefined)("records psql's writes, with the actor given, through PGOPTIONS", async () => {
    const run = await auditrum([
      'exec',
      '--actor',
      'ops-7',
      '--',
      psql as string,
      '--no-psqlrc',
      '-q',
      app.url,
      '-c',
      `INSERT INTO public.${table} VALUES (2, 'from psql')`,
    ]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(await changesOf('2')).toEqual([
      {
        row_key: '2',
        actor_id: 'ops-7',
        context: { source: 'cli', os_user: 'tester', hostname: hostname(), command: 'psql', pid: run.pid },
      },
    ]);
  });

  it('keeps the PGOPTIONS already set, adding the context after them', async () => {
    const run = await auditrum(
      [
        'exec',
        '--reason',
        'a reason with  spaces \\ and "quotes"',
        '--',
        ...nodeScript(
          `INSERT INTO public.${table} VALUES (3, 'x')`,
          "(await client.query('SHOW statement_timeout')).rows[0].statement_timeout",
        ),
      ],
      { TARGET_URL: app.url, PGOPTIONS: '-c statement_timeout=4s' },
    );
    expect(run).toMatchObject({ code: 0, stdout: '4s\n', stderr: '' });
    expect((await changesOf('3'))[0]?.context.reason).toBe('a reason with  spaces \\ and "quotes"');
  });

  it("reaches an Auditrum app's statements outside a scope through AUDITRUM_CONTEXT, where PGOPTIONS does not", async () => {
    // The pool sets its own options, so node-postgres leaves PGOPTIONS out: only the instrumentation carries the
    // context. A request scope inside the command keeps its own context.
    const script = `const { default: pg } = await import(${JSON.stringify(pgModule)});
      const core = await import(${JSON.stringify(coreModule)});
      core.instrumentPg();
      const pool = new pg.Pool({ connectionString: process.env.TARGET_URL, options: '-c statement_timeout=0', max: 1 });
      await pool.query("INSERT INTO public.${table} VALUES (5, 'x')");
      await core.withAuditContext({ actor: { id: 'alice' }, requestId: 'req-6', source: 'http' }, () =>
        pool.query("INSERT INTO public.${table} VALUES (6, 'x')"));
      await pool.end();`;
    const run = await auditrum(
      [
        'exec',
        '--reason',
        'app task',
        '--',
        'node',
        '--experimental-transform-types',
        '--no-warnings',
        '--import',
        sourceHooks,
        '--input-type=module',
        '-e',
        script,
      ],
      { TARGET_URL: app.url },
    );
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(await changesOf('5')).toEqual([
      {
        row_key: '5',
        actor_id: 'os:tester',
        context: {
          source: 'cli',
          reason: 'app task',
          os_user: 'tester',
          hostname: hostname(),
          command: 'node',
          pid: run.pid,
        },
      },
    ]);
    expect(await changesOf('6')).toEqual([{ row_key: '6', actor_id: 'alice', context: { source: 'http' } }]);
  });

  it('gives the context of a role that is not an application role only as claimed', async () => {
    const run = await auditrum(
      ['exec', '--reason', 'by hand', '--', ...nodeScript(`INSERT INTO public.${table} VALUES (4, 'x')`)],
      { TARGET_URL: urlAs(outsider) },
    );
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(await changesOf('4')).toEqual([
      {
        row_key: '4',
        actor_id: null,
        context: {
          source: 'db',
          db_user: outsider,
          application_name: 'backfill',
          client_addr: '127.0.0.1',
          claimed: {
            actor_id: 'os:tester',
            source: 'cli',
            reason: 'by hand',
            os_user: 'tester',
            hostname: hostname(),
            command: 'node',
            pid: run.pid,
          },
        },
      },
    ]);
  });
});

describe('auditrum exec: the command runs as if run directly', () => {
  it("passes the command's exit code through, and a signal's as a shell does (128 + n)", async () => {
    expect(await auditrum(['exec', '--', 'node', '-e', 'process.exit(7)'])).toMatchObject({ code: 7, stderr: '' });
    expect(await auditrum(['exec', '--', 'node', '-e', 'process.kill(process.pid, "SIGKILL")'])).toMatchObject({
      code: 137,
    });
  });

  it('passes a stop signal on to the command, which decides when to end', async () => {
    const run = await auditrum(
      [
        'exec',
        '--',
        'node',
        '-e',
        `process.on('SIGTERM', () => { console.log('cleaned up'); process.exit(0); });
         console.log('ready'); setTimeout(() => process.exit(9), 30000);`,
      ],
      {},
      (pid) => process.kill(pid, 'SIGTERM'),
    );
    expect(run).toMatchObject({ code: 0, stdout: 'ready\ncleaned up\n', stderr: '' });
  });

  it("says so when the command cannot be found, with the shell's code 127", async () => {
    expect(await auditrum(['exec', '--', `no-such-command-${suffix}`])).toEqual(
      expect.objectContaining({ code: 127, stderr: `auditrum: exec: no-such-command-${suffix}: command not found\n` }),
    );
  });

  const refused: [string, string[], Record<string, string>, string][] = [
    ['an unknown flag', ['exec', '--reasn', 'x', '--', 'node', '-e', 'console.log(1)'], {}, "unknown option '--reasn'"],
    ['no --', ['exec', 'node', '-e', 'console.log(1)'], {}, "unknown option '-e'"],
    ['no -- before a plain command', ['exec', '--reason', 'x', 'true'], {}, 'put -- before the command'],
    ['no command', ['exec', '--reason', 'x', '--'], {}, 'give the command to run after --'],
    ['an empty reason', ['exec', '--reason', ' ', '--', 'true'], {}, '--reason is empty'],
    ['an empty actor', ['exec', '--actor', '', '--', 'true'], {}, '--actor is empty'],
    ['a reason over 1000 characters', ['exec', '--reason', 'r'.repeat(1001), '--', 'true'], {}, 'at most 1000'],
    ['an actor over 256 characters', ['exec', '--actor', 'a'.repeat(257), '--', 'true'], {}, 'at most 256'],
    [
      'PGOPTIONS too long for the context',
      ['exec', '--reason', 'x', '--', 'true'],
      { PGOPTIONS: `-c application_name=${'a'.repeat(8100)}` },
      'does not fit in PGOPTIONS',
    ],
  ];
  for (const [what, args, env, message] of refused) {
    it(`refuses ${what} with a usage error (2), running nothing`, async () => {
      const run = await auditrum(args, env);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(message);
    });
  }
});
