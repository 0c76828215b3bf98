import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useTestDatabase } from '@auditrum/test-kit';
import { afterAll, beforeAll, expect, it } from 'vitest';

// The real process, from the TypeScript source, with its stdout read by nothing (`auditrum … | head` after head
// has exited): the reader closes its end before the CLI writes a byte.
const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const sourceHooks = new URL('../../../test/source-hooks.ts', import.meta.url).href;
const db = useTestDatabase();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'auditrum-epipe-'));
  await db.pool.query(`CREATE TABLE piped (id int PRIMARY KEY, note text)`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The CLI as a process of its own, its stdout and stderr piped to this one. */
function spawnCli(args: string[], stderr: 'pipe' | 'inherit') {
  return spawn(
    process.execPath,
    ['--experimental-transform-types', '--no-warnings', '--import', sourceHooks, main, ...args],
    {
      cwd: dir,
      env: { ...process.env, DATABASE_URL: db.url },
      stdio: ['ignore', 'pipe', stderr],
    },
  );
}

function cliIntoClosedPipe(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawnCli(args, 'pipe');
  child.stdout?.destroy();
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

it('ends quietly with its own exit code when the reader of its output has gone (EPIPE)', async () => {
  await writeFile(join(dir, 'auditrum.config.json'), JSON.stringify({ tables: { 'public.piped': {} } }));
  expect(await cliIntoClosedPipe(['sync', '--dry-run'])).toEqual({ code: 0, stderr: '' });
  expect(await cliIntoClosedPipe(['sync', '--check'])).toEqual({ code: 3, stderr: '' });
  expect(await cliIntoClosedPipe(['--help'])).toEqual({ code: 0, stderr: '' });
  // The dry run changed nothing, and a real sync still works with nobody reading.
  expect(await cliIntoClosedPipe(['sync'])).toEqual({ code: 0, stderr: '' });
  const { rows } = await db.pool.query(`SELECT table_name FROM auditrum.tracked_tables WHERE untracked_at IS NULL`);
  expect(rows).toEqual([{ table_name: 'piped' }]);
});

/** What this test database's backends have read (rows returned by scans), once every CLI backend has ended. */
async function rowsReadSoFar(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const { rows } = await db.pool.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name ~ '^auditrum-'`,
    );
    if (rows[0]?.n === '0') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const client = await db.pool.connect();
  try {
    // A backend's counts reach pg_stat_database when it ends; a fresh snapshot sees them.
    await client.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await client.query<{ n: string }>(
      'SELECT tup_returned::text AS n FROM pg_stat_database WHERE datname = current_database()',
    );
    return Number(rows[0]?.n);
  } finally {
    client.release();
  }
}

/** The CLI with its whole output read; its exit code and how many lines it wrote. */
function cliRead(args: string[]): Promise<{ code: number | null; lines: number }> {
  const child = spawnCli(args, 'inherit');
  let lines = 0;
  child.stdout?.on('data', (chunk: Buffer) => {
    for (const byte of chunk) if (byte === 10) lines++;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, lines }));
  });
}

it('stops reading a table as of a time, and an export, when the reader of the output has gone', async () => {
  await db.pool.query(`CREATE TABLE streamed (id int PRIMARY KEY, note text)`);
  await db.pool.query(`SELECT auditrum.track('public.streamed')`);
  await db.pool.query(`INSERT INTO streamed SELECT g, repeat('n', 400) FROM generate_series(1, 100000) g`);
  const at = new Date().toISOString();
  const asOf = ['as-of', 'public.streamed', at, '--format', 'jsonl'];

  const before = await rowsReadSoFar();
  expect(await cliRead(asOf)).toEqual({ code: 0, lines: 100_000 });
  const whole = (await rowsReadSoFar()) - before;
  expect(await cliIntoClosedPipe(asOf)).toEqual({ code: 0, stderr: '' });
  const stopped = (await rowsReadSoFar()) - before - whole;
  // What the query reads before its first row (the table's changes) it reads either way; the live table's 100,000
  // rows, streamed, it stops reading: more than half of them left unread (read to the end before: 401,913 of 404,977).
  expect(stopped).toBeLessThan(whole - 50_000);

  // The export does not move its cursor past what nobody read: it stops at its first batch, and says so.
  const exported = await cliIntoClosedPipe(['export', '--cursor', 'cursor.json']);
  expect(exported.code).not.toBe(0);
  expect(exported.stderr).toContain('stdout was closed by its reader; the export stopped before this batch');
  const again = await cliRead(['export', '--cursor', 'cursor.json']);
  expect(again).toEqual({ code: 0, lines: expect.any(Number) });
  expect(again.lines).toBeGreaterThanOrEqual(100_000);
});
