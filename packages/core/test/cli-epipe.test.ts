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

function cliIntoClosedPipe(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    ['--experimental-transform-types', '--no-warnings', '--import', sourceHooks, main, ...args],
    { cwd: dir, env: { ...process.env, DATABASE_URL: db.url }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
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
