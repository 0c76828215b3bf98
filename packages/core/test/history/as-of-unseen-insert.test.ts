import type { RowState, TableRowState } from '@auditrum/core';
import { createAuditrum, RestoreError } from '@auditrum/core';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../run-cli.js';
import { useHistoryReader } from './blame-reader.js';
import { grantRestoreReader, rowsAsText } from './restore-support.js';

// A row whose first recorded trace follows an untracked period (its INSERT never recorded): before that period,
// whether it existed is not known, never read as existing. Tables owned and written by a non-superuser application
// role, tracked by the schema owner, read by a role that may only read.
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
  return { exists: state.exists, values: state.values, unknown: state.unknown, rebuiltFrom: state.rebuiltFrom };
}

const GAP = [{ column: 'label', reason: 'untracked_gap' }];

/**
 * items: 1 there before tracking, 2 inserted while tracked; then a gap in which 3, 4 and 5 are inserted unseen; after
 * it 4 is updated and 5 deleted (3 is recorded by nothing but the live table); then 6 inserted while tracked.
 */
async function history() {
  await app.query('CREATE TABLE items (id int PRIMARY KEY, label text)');
  await app.query(`INSERT INTO items VALUES (1, 'before tracking')`);
  await owner.track('items');
  await app.query(`INSERT INTO items VALUES (2, 'tracked')`);
  const beforeGap = await now();
  await owner.untrack('items');
  const inGap = await now();
  await app.query(`INSERT INTO items VALUES (3, 'unseen'), (4, 'unseen, updated later'), (5, 'unseen, deleted later')`);
  await owner.track('items');
  const afterGap = await now();
  await app.query(`UPDATE items SET label = 'updated' WHERE id = 4`);
  await app.query('DELETE FROM items WHERE id = 5');
  await app.query(`INSERT INTO items VALUES (6, 'tracked again')`);
  const end = await now();
  return { beforeGap, inGap, afterGap, end };
}

describe('a row inserted while its table was not tracked', () => {
  let at: Awaited<ReturnType<typeof history>>;
  beforeAll(async () => {
    at = await history();
    await app.query(`GRANT SELECT ON items TO ${pg.escapeIdentifier(reader.name)}`);
  });

  it('is of unknown existence before and within the gap, and existed after it; a recorded INSERT proves it', async () => {
    const row = async (key: number, time: string) => seen(await owner.rowAsOf({ table: 'items', key, at: time }));
    // Recorded by nothing before the gap: inserted during it, or there all along (1 and 3 look the same in the log).
    for (const key of [1, 3, 4, 5]) {
      expect(await row(key, at.beforeGap), `row ${key}`).toEqual({
        exists: null,
        values: { id: key },
        unknown: GAP,
        rebuiltFrom: 'backward',
      });
      expect((await row(key, at.inGap)).exists, `row ${key}`).toBeNull();
    }
    // Its INSERT recorded: it existed.
    expect(await row(2, at.beforeGap)).toEqual({
      exists: true,
      values: { id: 2, label: 'tracked' },
      unknown: [],
      rebuiltFrom: 'forward',
    });
    // Tracked all along from the time to its first recorded change (or to now): its INSERT would have been recorded.
    expect(await row(3, at.afterGap)).toEqual({
      exists: true,
      values: { id: 3, label: 'unseen' },
      unknown: [],
      rebuiltFrom: 'live',
    });
    expect(await row(4, at.afterGap)).toEqual({
      exists: true,
      values: { id: 4, label: 'unseen, updated later' },
      unknown: [],
      rebuiltFrom: 'backward',
    });
    expect(await row(5, at.afterGap)).toEqual({
      exists: true,
      values: { id: 5, label: 'unseen, deleted later' },
      unknown: [],
      rebuiltFrom: 'backward',
    });
    expect((await row(5, at.end)).exists).toBe(false);
    // Inserted while tracked after the gap: it did not exist before its INSERT.
    expect((await row(6, at.beforeGap)).exists).toBe(false);
  });

  it('is listed, marked, by the whole table streamed and by its pages', async () => {
    const table = async (time: string) => {
      const rows: [string, boolean | null, Record<string, unknown>][] = [];
      for await (const row of await owner.tableAsOf({ table: 'items', at: time })) {
        rows.push([row.rowKey, row.exists, row.values]);
      }
      return rows.sort(([a], [b]) => Number(a) - Number(b));
    };
    expect(await table(at.beforeGap)).toEqual([
      ['1', null, { id: 1 }],
      ['2', true, { id: 2, label: 'tracked' }],
      ['3', null, { id: 3 }],
      ['4', null, { id: 4 }],
      ['5', null, { id: 5 }],
    ]);
    expect((await table(at.afterGap)).map(([key, exists]) => [key, exists])).toEqual([
      ['1', true],
      ['2', true],
      ['3', true],
      ['4', true],
      ['5', true],
    ]);
    const page = async (time: string) =>
      (
        await reader.pool.query(
          `SELECT row_key, "exists" FROM auditrum.table_as_of_page('items', $1, NULL, NULL, 10)`,
          [time],
        )
      ).rows;
    expect(await page(at.beforeGap)).toEqual([
      { row_key: '1', exists: null },
      { row_key: '2', exists: true },
      { row_key: '3', exists: null },
      { row_key: '4', exists: null },
      { row_key: '5', exists: null },
    ]);
    expect((await page(at.afterGap)).every((row) => row.exists === true)).toBe(true);
  });

  it('is printed by the CLI with exists null, in CSV named exists:unknown', async () => {
    const cli = (args: string[]) =>
      runCli(['as-of', 'items', ...args], { env: { DATABASE_URL: reader.url }, cwd: process.cwd() });
    const one = await cli([at.beforeGap, '--key', '3', '--format', 'jsonl']);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toEqual({
      exists: null,
      rowKey: '3',
      values: { id: 3 },
      unknown: GAP,
      lastChangeId: null,
      lastChangedAt: null,
      rebuiltFrom: 'backward',
    });
    const csv = await cli([at.beforeGap, '--format', 'csv']);
    expect(csv.code).toBe(0);
    expect(csv.stdout.trim().split('\n').slice(1).sort()).toEqual([
      '1,,exists:unknown label:untracked_gap',
      '2,tracked,',
      '3,,exists:unknown label:untracked_gap',
      '4,,exists:unknown label:untracked_gap',
      '5,,exists:unknown label:untracked_gap',
    ]);
  });

  it('keeps its field history to what was recorded: no INSERT is made up for it', async () => {
    const entries = await owner.fieldHistory({ table: 'items', key: 4, field: 'label' });
    expect(entries.map((entry) => [entry.operation, entry.oldValue, entry.value])).toEqual([
      ['UPDATE', 'unseen, updated later', 'updated'],
    ]);
  });

  it('is not restored to a time before the gap unless forced, and the refusal names why', async () => {
    const refused = await restorer
      .restore({ table: 'items', key: 3, at: at.beforeGap }, { reason: 'ticket 12' })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RestoreError);
    expect((refused as RestoreError).kind).toBe('unrestorable');
    expect((refused as RestoreError).plan?.unrestorable).toContainEqual({
      table: 'public.items',
      rowKey: '3',
      reason: 'unknown-existence',
      blocking: true,
      message:
        'public.items 3: the row may have been inserted or deleted while the table was not tracked: whether it existed then is not known',
    });
    expect(await rowsAsText(app, 'items', 'id = 3')).toEqual(['(3,unseen)']);
  });
});

describe('a table tracked all along', () => {
  it('reads a row from before tracking as existing at every time since tracking began', async () => {
    await app.query('CREATE TABLE steady (id int PRIMARY KEY, label text)');
    await app.query(`INSERT INTO steady VALUES (1, 'before tracking')`);
    await owner.track('steady');
    const tracked = await now();
    await app.query(`UPDATE steady SET label = 'changed' WHERE id = 1`);
    const state = await owner.rowAsOf({ table: 'steady', key: 1, at: tracked });
    expect(seen(state)).toEqual({
      exists: true,
      values: { id: 1, label: 'before tracking' },
      unknown: [],
      rebuiltFrom: 'backward',
    });
  });
});
