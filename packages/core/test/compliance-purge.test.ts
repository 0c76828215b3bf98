import type { PurgeResult } from '@auditrum/core';
import { ComplianceInputError, purge } from '@auditrum/core';
import { useTestDatabase } from '@auditrum/test-kit';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CliOutcome } from './run-cli.js';
import { runCli } from './run-cli.js';

// A log that has run for 16 months: a partition per month (bounds in UTC, as ensure_partitions makes them), one row
// a second after each month's start in each log, two rows 20 months old in the default partition (no partition for
// that month), one far in the future there, and two rows a second before and an hour after the cut-off of 13 months.
const db = useTestDatabase();

function cli(args: string[]): Promise<CliOutcome> {
  return runCli(args, { env: { DATABASE_URL: db.url }, cwd: process.cwd() });
}

/** The name of the partition of `log` for the month `monthsAgo` months before this one (UTC). */
async function partitionName(log: string, monthsAgo: number): Promise<string> {
  const { rows } = await db.pool.query<{ name: string }>(
    `SELECT $1 || '_p' || to_char(date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => $2), 'YYYY_MM') AS name`,
    [log, monthsAgo],
  );
  return rows[0]?.name as string;
}

async function rowCounts(): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<{ changes: number; api: number; purges: number }>(
    `SELECT (SELECT count(*)::int FROM auditrum.changes) AS changes, (SELECT count(*)::int FROM auditrum.api_requests) AS api,
       (SELECT count(*)::int FROM auditrum.purges) AS purges`,
  );
  return { changes: rows[0]?.changes ?? -1, api: rows[0]?.api ?? -1, purges: rows[0]?.purges ?? -1 };
}

/** A dry run on a connection whose session time zone is `zone`. */
async function dryRunIn(zone: string): Promise<PurgeResult> {
  const client = await db.pool.connect();
  try {
    await client.query(`SET TIME ZONE '${zone}'`);
    return await purge(client, 'auditrum', { olderThan: '13 months', dryRun: true });
  } finally {
    await client.query('RESET TIME ZONE');
    client.release();
  }
}

beforeAll(async () => {
  await db.pool.query(`DO $$
    DECLARE
      month_start timestamptz;
      log text;
    BEGIN
      FOR i IN 1..16 LOOP
        month_start := (date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => i)) AT TIME ZONE 'UTC';
        FOREACH log IN ARRAY ARRAY['changes', 'api_requests'] LOOP
          EXECUTE format('CREATE TABLE auditrum.%I PARTITION OF auditrum.%I FOR VALUES FROM (%L) TO (%L)',
            log || '_p' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM'), log, month_start,
            (date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => i - 1)) AT TIME ZONE 'UTC');
        END LOOP;
        INSERT INTO auditrum.changes (changed_at, table_id, operation, row_key) VALUES (month_start + interval '1 second', 1, 'INSERT', i::text);
        INSERT INTO auditrum.api_requests (requested_at, request_id, method, path, duration_ms)
        VALUES (month_start + interval '1 second', 'r' || i, 'GET', '/', 1);
      END LOOP;
    END $$`);
  // In UTC, as the cut-off is computed (a month before a time is not the same instant in every zone).
  await db.pool.query(
    `BEGIN; SET LOCAL TIME ZONE 'UTC';
     INSERT INTO auditrum.changes (changed_at, table_id, operation, row_key) VALUES
       (now() - interval '20 months', 1, 'DELETE', 'old-default-1'),
       (now() - interval '20 months 1 day', 1, 'DELETE', 'old-default-2'),
       (now() + interval '10 years', 1, 'INSERT', 'future-default'),
       (now() - interval '13 months' - interval '1 second', 1, 'UPDATE', 'just-older'),
       (now() - interval '13 months' + interval '1 hour', 1, 'UPDATE', 'just-newer');
     INSERT INTO auditrum.api_requests (requested_at, request_id, method, path, duration_ms)
     VALUES (now() - interval '20 months', 'old-default', 'GET', '/', 1);
     COMMIT`,
  );
});

describe('auditrum purge: bad input changes nothing', () => {
  it.each([
    [['--older-than', '13'], "retention period '13' has no unit"],
    [['--older-than', ''], "retention period '' has no unit"],
    [['--older-than', '13:00'], "retention period '13:00' has no unit"],
    [['--older-than', '13 parsecs'], "'13 parsecs' is not a retention period"],
    [['--older-than', '1000000000 years'], "'1000000000 years' is not a retention period"],
    // PostgreSQL 17 and later read these as intervals; a cut-off of -infinity was recorded as a purge run.
    [['--older-than', 'infinity'], "'infinity' is not a retention period"],
    [['--older-than', '+infinity'], "'+infinity' is not a retention period"],
    [['--older-than', '-1 year'], "retention period '-1 year' must be longer than zero"],
    [['--older-than', '1 year ago'], "retention period '1 year ago' must be longer than zero"],
    [['--older-than', '0 days'], "retention period '0 days' must be longer than zero"],
    [['--older-than', '1 year', '--changes-only', '--api-log-only'], 'give --changes-only or --api-log-only, not both'],
    [[], "required option '--older-than <period>' not specified"],
    [['--older-than', '1 year', '--lock-timeout', '0'], 'expected a whole number of milliseconds from 1 to 60000'],
    [['--older-than', '1 year', '--lock-timeout', '60001'], 'expected a whole number of milliseconds from 1 to 60000'],
    [['--older-than', '1 year', '--lock-timeout', '1s'], 'expected a whole number of milliseconds from 1 to 60000'],
  ])('purge %j: exit 2 saying so', async (args, message) => {
    const before = await rowCounts();
    const result = await cli(['purge', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(await rowCounts()).toEqual(before);
  });

  it('a schema that is not installed: exit 1, saying so, nothing changed', async () => {
    const before = await rowCounts();
    const result = await cli(['purge', '--older-than', '1 year', '--schema', 'nowhere']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('is Auditrum installed in this schema? run "auditrum migrate"');
    expect(await rowCounts()).toEqual(before);
  });

  it('the API refuses a batch size that is not a whole number from 1 and logs it does not keep', async () => {
    await expect(purge(db.pool, 'auditrum', { olderThan: '1 year', batchSize: 0 })).rejects.toThrow(
      ComplianceInputError,
    );
    await expect(purge(db.pool, 'auditrum', { olderThan: '1 year', lockTimeoutMs: 2.5 })).rejects.toThrow(
      'the lock timeout must be a whole number of milliseconds from 1 to 60000, not 2.5',
    );
    await expect(
      purge(db.pool, 'auditrum', { olderThan: '1 year', logs: ['changes', 'users' as 'changes'] }),
    ).rejects.toThrow('logs must be a non-empty list of changes and api_requests');
  });
});

describe('auditrum purge --older-than 13 months', () => {
  let dryRun: PurgeResult;

  it('the dry run lists exactly which partitions go and how many rows, the same in every session time zone', async () => {
    dryRun = await dryRunIn('UTC');
    const old = await Promise.all([16, 15, 14, 13].map((n) => partitionName('changes', n)));
    const oldApi = await Promise.all([16, 15, 14, 13].map((n) => partitionName('api_requests', n)));
    expect(dryRun.applied).toBe(false);
    expect(dryRun.logs).toEqual([
      {
        log: 'changes',
        partitions: [
          { name: old[0], action: 'drop', rows: 1 },
          { name: old[1], action: 'drop', rows: 1 },
          { name: old[2], action: 'drop', rows: 1 },
          // The month of the cut-off: its first row and the one a second older than the cut-off, not the newer.
          { name: old[3], action: 'delete', rows: 2 },
          { name: 'changes_default', action: 'delete', rows: 2 },
        ],
        rows: 7,
        maxPurgedId: expect.any(String),
      },
      {
        log: 'api_requests',
        partitions: [
          { name: oldApi[0], action: 'drop', rows: 1 },
          { name: oldApi[1], action: 'drop', rows: 1 },
          { name: oldApi[2], action: 'drop', rows: 1 },
          { name: oldApi[3], action: 'delete', rows: 1 },
          { name: 'api_requests_default', action: 'delete', rows: 1 },
        ],
        rows: 5,
        maxPurgedId: expect.any(String),
      },
    ]);
    for (const zone of ['Pacific/Kiritimati', 'America/Los_Angeles']) {
      const elsewhere = await dryRunIn(zone);
      expect(elsewhere.logs).toEqual(dryRun.logs);
      expect(Math.abs(elsewhere.cutoff.getTime() - dryRun.cutoff.getTime())).toBeLessThan(60_000);
    }
    const text = await cli(['purge', '--older-than', '13 months', '--dry-run']);
    expect(text).toMatchObject({ code: 0, stderr: '' });
    expect(text.stdout).toContain('changes: would purge 7 row(s)');
    expect(text.stdout).toMatch(new RegExp(`${old[0]} +drop partition +1`));
    expect(text.stdout).toMatch(/changes_default +delete rows +2/);
    expect(text.stdout).toContain('api_requests: would purge 5 row(s)');
    expect(text.stdout).toContain('dry run: nothing was changed');
    expect(await rowCounts()).toEqual({ changes: 16 + 5, api: 16 + 1, purges: 0 });
  });

  it('--changes-only and --api-log-only keep to their log', async () => {
    const changes = JSON.parse(
      (await cli(['purge', '--older-than', '13 months', '--dry-run', '--changes-only', '--json'])).stdout,
    );
    expect(changes.logs.map((l: { log: string }) => l.log)).toEqual(['changes']);
    const api = JSON.parse(
      (await cli(['purge', '--older-than', 'P1Y1M', '--dry-run', '--api-log-only', '--json'])).stdout,
    );
    expect(api.logs).toEqual([expect.objectContaining({ log: 'api_requests', rows: 5 })]);
  });

  it('purges what the dry run listed, in a session far from UTC, in batches, and records it', async () => {
    const client = await db.pool.connect();
    let result: PurgeResult;
    try {
      await client.query(`SET TIME ZONE 'Asia/Kathmandu'`);
      result = await purge(client, 'auditrum', { olderThan: '13 months', batchSize: 1 });
    } finally {
      await client.query('RESET TIME ZONE');
      client.release();
    }
    expect(result.applied).toBe(true);
    expect(result.logs).toEqual(dryRun.logs);
    const kept = await db.pool.query<{ row_key: string }>('SELECT row_key FROM auditrum.changes ORDER BY changed_at');
    expect(kept.rows.map((r) => r.row_key)).toEqual([
      'just-newer',
      ...Array.from({ length: 12 }, (_, i) => String(12 - i)),
      'future-default',
    ]);
    expect(await rowCounts()).toEqual({ changes: 14, api: 12, purges: 2 });
    const gone = await Promise.all([16, 15, 14].map((n) => partitionName('changes', n)));
    const left = await db.pool.query('SELECT relname FROM pg_class WHERE relname = ANY ($1::text[])', [gone]);
    expect(left.rowCount).toBe(0);
    const recorded = await db.pool.query(
      `SELECT log, older_than, dropped_partitions, rows_purged::int, max_purged_id::text, purged_by::text,
         finished_at IS NOT NULL AS finished
       FROM auditrum.purges ORDER BY id`,
    );
    expect(recorded.rows).toEqual([
      {
        log: 'changes',
        older_than: '13 months',
        dropped_partitions: gone,
        rows_purged: 7,
        max_purged_id: result.logs[0]?.maxPurgedId,
        purged_by: 'postgres',
        finished: true,
      },
      expect.objectContaining({ log: 'api_requests', rows_purged: 5, finished: true }),
    ]);
    // Nothing is left to purge.
    const again = await purge(db.pool, 'auditrum', { olderThan: '13 months', dryRun: true });
    expect(again.logs.map((l) => l.rows)).toEqual([0, 0]);
  });

  it('a run that stops midway has recorded exactly what it removed, and the rest stays attached', async () => {
    const [older, younger] = [await partitionName('changes', 30), await partitionName('changes', 29)];
    await db.pool.query(`DO $$
      DECLARE
        month_start timestamptz;
      BEGIN
        FOR i IN 29..30 LOOP
          month_start := (date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => i)) AT TIME ZONE 'UTC';
          EXECUTE format('CREATE TABLE auditrum.%I PARTITION OF auditrum.changes FOR VALUES FROM (%L) TO (%L)',
            'changes_p' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM'), month_start,
            (date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => i - 1)) AT TIME ZONE 'UTC');
          INSERT INTO auditrum.changes (changed_at, table_id, operation, row_key)
          VALUES (month_start + interval '1 day', 1, 'INSERT', 'old-' || i);
        END LOOP;
      END $$`);
    // A view on the younger partition: its DROP fails (other objects depend on it), after the older one went.
    await db.pool.query(`CREATE VIEW keeps_it AS SELECT * FROM auditrum.${younger}`);
    await expect(purge(db.pool, 'auditrum', { olderThan: '13 months', logs: ['changes'] })).rejects.toThrow(/depend/);
    const { rows } = await db.pool.query(
      `SELECT dropped_partitions, rows_purged::int, finished_at FROM auditrum.purges ORDER BY id DESC LIMIT 1`,
    );
    expect(rows).toEqual([{ dropped_partitions: [older], rows_purged: 1, finished_at: null }]);
    const attached = await db.pool.query(
      `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = 'auditrum.changes'::regclass AND c.relname = $1`,
      [younger],
    );
    expect(attached.rowCount).toBe(1);
    await db.pool.query('DROP VIEW keeps_it');
    const rest = await purge(db.pool, 'auditrum', { olderThan: '13 months', logs: ['changes'] });
    expect(rest.logs[0]?.partitions).toEqual([{ name: younger, action: 'drop', rows: 1 }]);
  });

  it('gives up a partition, removing nothing of it, rather than hold up the log behind a long transaction', async () => {
    const old = await partitionName('changes', 40);
    await db.pool.query(`DO $$
      DECLARE
        month_start timestamptz := (date_trunc('month', now() AT TIME ZONE 'UTC') - interval '40 months') AT TIME ZONE 'UTC';
      BEGIN
        EXECUTE format('CREATE TABLE auditrum.%I PARTITION OF auditrum.changes FOR VALUES FROM (%L) TO (%L)',
          'changes_p' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM'), month_start, month_start + interval '1 month');
        INSERT INTO auditrum.changes (changed_at, table_id, operation, row_key)
        VALUES (month_start + interval '1 day', 1, 'INSERT', 'old-40');
      END $$`);
    // A transaction that wrote to the log and stays open: DETACH would wait for it, and every capture behind DETACH.
    const writer = await db.pool.connect();
    try {
      await writer.query('BEGIN');
      await writer.query(`INSERT INTO auditrum.changes (table_id, operation, row_key) VALUES (1, 'INSERT', 'open')`);
      await expect(
        purge(db.pool, 'auditrum', { olderThan: '13 months', logs: ['changes'], lockTimeoutMs: 5 }),
      ).rejects.toThrow(
        `purge could not take the lock on "auditrum"."changes" to detach ${old} in 10 tries of 5 ms: a long transaction that wrote to the log holds it; nothing of this partition was removed`,
      );
      expect((await db.pool.query(`SELECT row_key FROM auditrum.${old}`)).rows).toEqual([{ row_key: 'old-40' }]);
    } finally {
      await writer.query('ROLLBACK');
      writer.release();
    }
    const done = await purge(db.pool, 'auditrum', { olderThan: '13 months', logs: ['changes'], lockTimeoutMs: 5 });
    expect(done.logs[0]?.partitions).toEqual([{ name: old, action: 'drop', rows: 1 }]);
  });

  it('refuses to run beside another purge of the same schema', async () => {
    const holder = await db.pool.connect();
    try {
      await holder.query(`SELECT pg_advisory_lock(hashtextextended('auditrum.purge:auditrum', 0))`);
      const result = await cli(['purge', '--older-than', '13 months']);
      expect(result).toMatchObject({ code: 1, stderr: 'auditrum: another purge of this schema is running\n' });
    } finally {
      await holder.query(`SELECT pg_advisory_unlock(hashtextextended('auditrum.purge:auditrum', 0))`);
      holder.release();
    }
  });
});
