import os from 'node:os';
import pg from 'pg';
import { databaseUrl } from './databases.js';
import { ignoreIdleErrors } from './idle-errors.js';
import type { PostgresServer } from './postgres-server.js';
import { startEmbeddedPostgres } from './sources/embedded-postgres.js';

/**
 * What the benchmark scripts share: their knobs, their statistics and their printed tables. Imported by path
 * (the test kit's package entry loads Vitest, which a benchmark does not want).
 */

/** A whole-number knob from the environment, `fallback` when unset; at least `min`. */
export function positiveInt(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`${name} must be a whole number of at least ${min}, not ${raw}`);
  return value;
}

/** The median of the finite values; NaN when there are none. */
export function median(values: readonly number[]): number {
  const sorted = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The q-quantile (nearest rank) of values sorted ascending; NaN when there are none. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

/** A number with `digits` decimals, or `n/a`. */
export function fmt(value: number, digits = 0): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

/** A plain-text table: the first column left-aligned, the others right-aligned. */
export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The machine and server a run measured: Node's version, the cores and PostgreSQL's version. */
export async function machineLine(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ server_version: string }>('SHOW server_version');
  return `node ${process.version}, ${os.cpus().length} cores, ${rows[0]?.server_version}`;
}

/** The load averages over 1, 5 and 15 minutes, for the last line of a run (other work on the machine skews it). */
export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

export function log(message = ''): void {
  process.stdout.write(`${message}\n`);
}

// The tests' helper: the same server URL with another database.
export { databaseUrl } from './databases.js';

/**
 * The benchmarks' server: DATABASE_URL (a role that may create databases) if set, else embedded-postgres with
 * its data under `<rootDir>/.tmp`, crash-safe (fsync and full-page writes on) but not waiting for the WAL flush at
 * commit, with room for large runs.
 */
export async function startBenchServer(rootDir: string, sharedBuffers = '512MB'): Promise<PostgresServer> {
  const url = process.env.DATABASE_URL;
  if (url) return { description: 'DATABASE_URL', adminUrl: url, stop: async () => undefined };
  return startEmbeddedPostgres(rootDir, [
    'synchronous_commit=off',
    `shared_buffers=${sharedBuffers}`,
    'max_wal_size=4GB',
    'checkpoint_timeout=15min',
  ]);
}

/**
 * Runs `work` with a pool of at most `poolMax` connections on a fresh database `<name>_<pid>` of the benchmarks'
 * server, then drops the database and stops the server, whether `work` succeeded or not.
 */
export async function withBenchDatabase(
  rootDir: string,
  name: string,
  poolMax: number,
  work: (pool: pg.Pool, server: PostgresServer) => Promise<void>,
): Promise<void> {
  const server = await startBenchServer(rootDir);
  const dbName = pg.escapeIdentifier(`${name}_${process.pid}`);
  const admin = ignoreIdleErrors(new pg.Client({ connectionString: server.adminUrl }));
  let pool: pg.Pool | undefined;
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    pool = ignoreIdleErrors(
      new pg.Pool({ connectionString: databaseUrl(server.adminUrl, `${name}_${process.pid}`), max: poolMax }),
    );
    await work(pool, server);
  } finally {
    await pool?.end().catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    await admin.end().catch(() => undefined);
    await server.stop();
  }
}
