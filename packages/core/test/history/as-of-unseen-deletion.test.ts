import type { RowState, TableRowState } from '@auditrum/core';
import { createAuditrum, RestoreError } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../run-cli.js';
import { useHistoryReader } from './blame-reader.js';
import { grantRestoreReader, rowsAsText } from './restore-support.js';

// A row deleted while its table was not tracked: its existence is unknown within the gap and false after it, unless a
// later recorded change or the live table proves it was there. Tables owned and written by a non-superuser
// application role, tracked by the schema owner.
const db = useTestDatabase();
const role = useAppRole(db);
const reader = useHistoryReader(db);
let app: pg.Pool;
let owner: ReturnType<typeof createAuditrum>;
let restorer: ReturnType<typeof createAuditrum>;

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  await grantRestoreReader(db.pool, role.name);
  owner = createAuditrum({ pool: db.pool, partitions: false });
  restorer = createAuditrum({ pool: app, partitions: false });
});

afterAll(async () => {
  await restorer.close();
  await owner.close();
});

/** The database's clock now, as an ISO time with an offset. */
async function now(): Promise<string> {
  const { rows } = await db.pool.query<{ at: string }>(`SELECT to_json(clock_timestamp()) #>> '{}' AS at`);
  return rows[0]?.at as string;
}

function seen(state: RowState | TableRowState) {
  return { exists: state.exists, values: state.values, unknown: state.unknown };
}

const GAP = [{ column: 'job', reason: 'untracked_gap' }];

/**
 * jobs 1–5 inserted while tracked; then a gap in which 1, 2, 3 and 5 are deleted and 6 is inserted; after it, 2 is
 * inserted again, 4 and 6 are updated, 3 stays gone, 5 is inserted and deleted again.
 */
async function history() {
  await app.query('CREATE TABLE jobs (id int PRIMARY KEY, job text)');
  await owner.track('jobs');
  await app.query(`INSERT INTO jobs VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e')`);
  const recorded = await now();
  await owner.untrack('jobs');
  const inGap = await now();
  await app.query('DELETE FROM jobs WHERE id IN (1, 2, 3, 5)');
  await app.query(`INSERT INTO jobs VALUES (6, 'unseen')`);
  await owner.track('jobs');
  const afterGap = await now();
  await app.query(`INSERT INTO jobs VALUES (2, 'again'), (5, 'back')`);
  await app.query(`UPDATE jobs SET job = 'seen' WHERE id IN (4, 6)`);
  await app.query('DELETE FROM jobs WHERE id = 5');
  const end = await now();
  return { recorded, inGap, afterGap, end };
}

describe('a row deleted while its table was not tracked', () => {
  let at: Awaited<ReturnType<typeof history>>;
  beforeAll(async () => {
    at = await history();
  });

  it('is of unknown existence within the gap and gone after it; a recorded change or the live row proves one was there', async () => {
    const row = async (key: number, time: string) => seen(await owner.rowAsOf({ table: 'jobs', key, at: time }));
    expect(await row(1, at.recorded)).toEqual({ exists: true, values: { id: 1, job: 'a' }, unknown: [] });
    // Absent now, nothing recorded since: it went during the gap. Within it, not known; after it, gone.
    expect(await row(1, at.inGap)).toEqual({ exists: null, values: { id: 1 }, unknown: GAP });
    expect(await row(1, at.afterGap)).toEqual({ exists: false, values: {}, unknown: [] });
    expect(await row(3, at.end)).toEqual({ exists: false, values: {}, unknown: [] });
    // Its key inserted again after the gap: it was not there when tracking resumed.
    expect(await row(2, at.inGap)).toEqual({ exists: null, values: { id: 2 }, unknown: GAP });
    expect(await row(2, at.afterGap)).toEqual({ exists: false, values: {}, unknown: [] });
    expect(await row(2, at.end)).toEqual({ exists: true, values: { id: 2, job: 'again' }, unknown: [] });
    // Updated after the gap (or live now): it was there all along, its values within the gap unknown.
    expect(await row(4, at.inGap)).toEqual({ exists: true, values: { id: 4 }, unknown: GAP });
    expect(await row(4, at.afterGap)).toEqual({ exists: true, values: { id: 4 }, unknown: GAP });
    // Inserted again and deleted after the gap: the INSERT says it was gone when tracking resumed.
    expect(await row(5, at.inGap)).toEqual({ exists: null, values: { id: 5 }, unknown: GAP });
    expect(await row(5, at.afterGap)).toEqual({ exists: false, values: {}, unknown: [] });
    expect((await owner.rowAsOf({ table: 'jobs', key: 5, at: at.afterGap })).rebuiltFrom).toBe('none');
  });

  it('is listed, marked, by the whole table and its pages within the gap, and left out after it', async () => {
    const table = async (time: string) => {
      const rows: [string, boolean | null, Record<string, unknown>][] = [];
      for await (const row of await owner.tableAsOf({ table: 'jobs', at: time })) {
        rows.push([row.rowKey, row.exists, row.values]);
      }
      return rows.sort(([a], [b]) => Number(a) - Number(b));
    };
    // (Row 6, inserted unseen during the gap, is of unknown existence within it too: as-of-unseen-insert.test.ts.)
    expect((await table(at.inGap)).filter(([key]) => key !== '6')).toEqual([
      ['1', null, { id: 1 }],
      ['2', null, { id: 2 }],
      ['3', null, { id: 3 }],
      ['4', true, { id: 4 }],
      ['5', null, { id: 5 }],
    ]);
    expect(await table(at.afterGap)).toEqual([
      ['4', true, { id: 4 }],
      ['6', true, { id: 6, job: 'unseen' }],
    ]);
    const { rows: page } = await db.pool.query(
      `SELECT row_key, "exists" FROM auditrum.table_as_of_page('jobs', $1, NULL, NULL, 10) WHERE row_key <> '6'`,
      [at.inGap],
    );
    expect(page).toEqual([
      { row_key: '1', exists: null },
      { row_key: '2', exists: null },
      { row_key: '3', exists: null },
      { row_key: '4', exists: true },
      { row_key: '5', exists: null },
    ]);
    const { rows: after } = await db.pool.query(
      `SELECT row_key, "exists" FROM auditrum.table_as_of_page('jobs', $1, NULL, NULL, 10)`,
      [at.afterGap],
    );
    expect(after).toEqual([
      { row_key: '4', exists: true },
      { row_key: '6', exists: true },
    ]);
  });

  it('is printed by the CLI with exists null, in CSV named exists:unknown, and as no row after the gap', async () => {
    await app.query(`GRANT SELECT ON jobs TO ${pg.escapeIdentifier(reader.name)}`);
    const cli = (args: string[]) =>
      runCli(['as-of', 'jobs', ...args], { env: { DATABASE_URL: reader.url }, cwd: process.cwd() });
    const one = await cli([at.inGap, '--key', '1']);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toEqual([
      {
        exists: null,
        rowKey: '1',
        values: { id: 1 },
        unknown: GAP,
        lastChangeId: expect.any(String),
        lastChangedAt: expect.any(String),
        rebuiltFrom: 'forward',
      },
    ]);
    const csv = await cli([at.inGap, '--format', 'csv']);
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trim().split('\n');
    expect(lines[0]).toBe('id,job,unknown');
    // (Row 6, inserted unseen during the gap, left out as above.)
    expect(
      lines
        .slice(1)
        .filter((line) => !line.startsWith('6,'))
        .sort(),
    ).toEqual([
      '1,,exists:unknown job:untracked_gap',
      '2,,exists:unknown job:untracked_gap',
      '3,,exists:unknown job:untracked_gap',
      '4,,job:untracked_gap',
      '5,,exists:unknown job:untracked_gap',
    ]);
    const gone = await cli([at.afterGap, '--key', '1']);
    expect(gone.code).toBe(4);
    expect(gone.stderr).toContain('had no row with key 1');
  });

  it('is not restored to a state of unknown existence unless forced, and the refusal names why', async () => {
    const refused = await restorer
      .restore({ table: 'jobs', key: 3, at: at.inGap }, { reason: 'ticket 12' })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RestoreError);
    expect((refused as RestoreError).kind).toBe('unrestorable');
    expect((refused as RestoreError).plan?.unrestorable).toContainEqual({
      table: 'public.jobs',
      rowKey: '3',
      reason: 'unknown-existence',
      blocking: true,
      message:
        'public.jobs 3: the row may have been inserted or deleted while the table was not tracked: whether it existed then is not known',
    });
    expect(await rowsAsText(app, 'jobs', 'id = 3')).toEqual([]);
    // Forced: the row as last recorded (its job unknown then, so only its key).
    await restorer.restore({ table: 'jobs', key: 3, at: at.inGap }, { reason: 'ticket 12', force: true });
    expect(await rowsAsText(app, 'jobs', 'id = 3')).toEqual(['(3,)']);
  });
});

describe('a row of a table untracked now', () => {
  it('is of unknown existence from the untracking on when it is absent from the table', async () => {
    await app.query('CREATE TABLE tasks (id int PRIMARY KEY, job text)');
    await owner.track('tasks');
    await app.query(`INSERT INTO tasks VALUES (1, 'a'), (2, 'b')`);
    await owner.untrack('tasks');
    await app.query('DELETE FROM tasks WHERE id = 1');
    const later = await now();
    expect((await owner.rowAsOf({ table: 'tasks', key: 1, at: later })).exists).toBeNull();
    expect((await owner.rowAsOf({ table: 'tasks', key: 2, at: later })).exists).toBe(true);
  });
});
