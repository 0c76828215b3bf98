import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { useTestDatabase } from '@auditrum/test-kit';
import { beforeAll, expect, it } from 'vitest';
import { waitForHorizon } from './export-horizon.js';

// The real CLI process, killed with SIGKILL (no chance to flush or store anything) while it writes rotated files,
// then started again on the same cursor and files: every change row must be in the files exactly once.
const main = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const sourceHooks = new URL('../../../test/source-hooks.ts', import.meta.url).href;
const db = useTestDatabase();
let dir: string;

function startExport(
  follow: boolean,
  args = ['export', '--cursor', 'crash.cursor', '--file', 'out/audit', '--rotate-size', '64K', '--batch', '40'],
): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(
    process.execPath,
    [
      '--experimental-transform-types',
      '--no-warnings',
      '--import',
      sourceHooks,
      main,
      ...args,
      ...(follow ? ['--follow', '--poll', '20'] : []),
    ],
    { cwd: dir, env: { ...process.env, DATABASE_URL: db.url }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0 && code !== null) reject(new Error(`export exited ${code}: ${stderr}`));
      else resolve(code);
    });
  });
  return { child, exited };
}

async function outputBytes(): Promise<number> {
  const names = await readdir(join(dir, 'out')).catch(() => [] as string[]);
  const sizes = await Promise.all(names.map(async (name) => (await stat(join(dir, 'out', name))).size));
  return sizes.reduce((a, b) => a + b, 0);
}

async function exportedIds(): Promise<string[]> {
  const names = (await readdir(join(dir, 'out'))).sort();
  const text = (await Promise.all(names.map((name) => readFile(join(dir, 'out', name), 'utf8')))).join('');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { log: string; id: string })
    .map((record) => `${record.log}:${record.id}`);
}

beforeAll(async () => {
  dir = await mkdtemp(join(process.env.TMPDIR ?? '/tmp', 'export-crash-'));
  await db.pool.query('CREATE TABLE events (id int PRIMARY KEY, payload text)');
  await db.pool.query(`SELECT auditrum.track('events')`);
  // A backlog, so that the first kills land in the middle of a step.
  await db.pool.query(`INSERT INTO events SELECT g, repeat('x', 200) FROM generate_series(1, 4000) g`);
});

it('kill -9 during an export, again and again while rows are written: nothing lost, nothing twice', async () => {
  let next = 4001;
  let writing = true;
  // Writers: small transactions, and one that stays open across a kill and commits late.
  const writer = (async () => {
    while (writing) {
      await db.pool.query(`INSERT INTO events SELECT g, 'live' FROM generate_series($1::int, $1::int + 9) g`, [next]);
      next += 10;
      await sleep(5);
    }
  })();
  const late = await db.pool.connect();
  await late.query('BEGIN');
  await late.query(`INSERT INTO events VALUES (-1, 'began first, committed last')`);
  let killed = 0;
  try {
    for (let round = 0; round < 6; round++) {
      const before = await outputBytes();
      const { child, exited } = startExport(true);
      // Killed once it has written something in this round, a little later each time.
      while ((await outputBytes()) === before) await sleep(10);
      await sleep(round * 15);
      child.kill('SIGKILL');
      await exited;
      killed += 1;
      if (round === 3) await late.query('COMMIT');
    }
  } finally {
    writing = false;
    await writer;
    await late.query('COMMIT').catch(() => undefined);
    late.release();
  }
  // Caught up without a kill, once every writer's transaction is below the horizon.
  await waitForHorizon(db.pool);
  await startExport(false).exited;
  const { rows } = await db.pool.query<{ id: string }>(
    `SELECT 'changes:' || id AS id FROM auditrum.changes ORDER BY id`,
  );
  const ids = await exportedIds();
  expect(killed).toBe(6);
  expect(new Set(ids).size).toBe(ids.length);
  expect([...ids].sort()).toEqual(rows.map((r) => r.id).sort());
  expect(ids.length).toBeGreaterThan(4000);
});

it('--follow stops on SIGTERM after delivering what it holds, with the cursor stored after the last record', async () => {
  const args = ['export', '--cursor', 'term.cursor', '--file', 'term/audit', '--logs', 'changes'];
  const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM auditrum.changes');
  const total = (rows[0]?.n ?? 0) + 3;
  const { child, exited } = startExport(true, args);
  await db.pool.query(`INSERT INTO events VALUES (-10, 'a'), (-11, 'b'), (-12, 'c')`);
  const lines = async () =>
    (await readdir(join(dir, 'term')).catch(() => [] as string[])).length === 0
      ? 0
      : (await Promise.all((await readdir(join(dir, 'term'))).map((n) => readFile(join(dir, 'term', n), 'utf8'))))
          .join('')
          .split('\n')
          .filter(Boolean).length;
  while ((await lines()) < total) await sleep(20);
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  const cursor = JSON.parse(await readFile(join(dir, 'term.cursor'), 'utf8'));
  expect(await lines()).toBe(total);
  // Resumed, nothing comes again.
  await waitForHorizon(db.pool);
  await startExport(false, args).exited;
  expect(await lines()).toBe(total);
  expect(cursor.logs).toEqual(['changes']);
});
