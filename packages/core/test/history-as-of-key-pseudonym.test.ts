import { erase, harden, rowAsOf, tableAsOf } from '@auditrum/core';
import type { RowAsOfResponse, TableAsOfResponse } from '@auditrum/core/admin';
import { useAdminRole, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminDownload, adminRead } from './admin-read.js';

// A row and a table as of a time (migration 44) with a real row whose key is an erasure's key pseudonym
// (`erased:<n>`) and the versions that erasure gave that key: the key's text is the real row's alone, the erased row's
// versions are no row of the table. Alice's row and Eve's (keyed with the pseudonym Alice's erasure gives, before it
// is given) change in turn, so that reading the key by its text folds Alice's last UPDATE into Eve's row. The
// application's non-superuser role owns the table, writes and reads; a non-superuser admin role owns the schema and
// erases (harden).
const db = useTestDatabase();
const role = useAppRole(db);
const adminRole = useAdminRole(db);
let app: pg.Pool;
let owner: pg.Pool;
let pseudonym: string;
/** Before Eve's row, between Alice's INSERT and Eve's; and after every change. */
let beforeEve: Date;
let now: Date;

async function statementTime(): Promise<Date> {
  const { rows } = await db.pool.query<{ at: Date }>('SELECT clock_timestamp() AS at');
  await new Promise((resolve) => setTimeout(resolve, 20));
  return rows[0]?.at as Date;
}

/** Every row of the table at `at` as the library's whole-table read gives it, by key. */
async function wholeTable(at: Date): Promise<[string, unknown][]> {
  const rows: [string, unknown][] = [];
  for await (const row of await tableAsOf(app, 'auditrum', { table: 'public.people', at })) {
    rows.push([row.rowKey, row.values]);
  }
  return rows.sort(([a], [b]) => (a < b ? -1 : 1));
}

/** The admin's table page at `at`, by key. */
async function tablePage(at: Date, query: Record<string, string> = {}): Promise<[string, unknown][]> {
  const page = await adminRead<TableAsOfResponse>(app, 'api/table-as-of', {
    table: 'public.people',
    at: at.toISOString(),
    ...query,
  });
  return page.items.map((row): [string, unknown] => [row.rowKey, row.values]).sort(([a], [b]) => (a < b ? -1 : 1));
}

/** The admin's export of the table at `at` (NDJSON), by key. */
async function tableExport(at: Date): Promise<[string, unknown][]> {
  const text = await adminDownload(app, 'api/table-as-of/export', {
    table: 'public.people',
    at: at.toISOString(),
    format: 'ndjson',
  });
  return text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { rowKey: string; values: unknown })
    .map((row): [string, unknown] => [row.rowKey, row.values])
    .sort(([a], [b]) => (a < b ? -1 : 1));
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  owner = adminRole.openPool({ max: 2 });
  await app.query('CREATE TABLE people (email text PRIMARY KEY, name text)');
  await db.pool.query(`SELECT auditrum.track('people')`);
  await harden(db.pool, 'auditrum', { appRole: role.name, adminRole: adminRole.name });
  // The id Alice's erasure will have, so that Eve's row can have its pseudonym as a key before it is given.
  const { rows } = await db.pool.query<{ next: string }>(
    `SELECT (CASE WHEN s.is_called THEN s.last_value + 1 ELSE s.last_value END)::text AS next
     FROM auditrum.erasures_id_seq s`,
  );
  pseudonym = `erased:${rows[0]?.next}`;
  await app.query(`INSERT INTO people VALUES ('alice@example.com', 'Alice')`);
  beforeEve = await statementTime();
  await app.query(`INSERT INTO people VALUES ($1, 'Eve')`, [pseudonym]);
  await app.query(`UPDATE people SET name = 'Eve E.' WHERE email = $1`, [pseudonym]);
  await app.query(`UPDATE people SET name = 'Alice L.' WHERE email = 'alice@example.com'`);
  const erased = await erase(owner, 'auditrum', {
    subject: { table: 'public.people', key: 'alice@example.com', columns: ['email'] },
    reason: 'GDPR request',
  });
  expect(`erased:${erased.erasureId}`).toBe(pseudonym);
  now = await statementTime();
  const { rows: versions } = await db.pool.query(
    `SELECT c.row_key AS key, c.new_values->>'name' AS name FROM auditrum.changes c
     JOIN auditrum.tracked_tables t ON t.id = c.table_id WHERE t.table_name = 'people' ORDER BY c.id`,
  );
  expect(versions).toEqual([
    { key: pseudonym, name: 'Alice' },
    { key: pseudonym, name: 'Eve' },
    { key: pseudonym, name: 'Eve E.' },
    { key: pseudonym, name: 'Alice L.' },
  ]);
});

afterAll(async () => {
  await Promise.all([app, owner].map((pool) => pool.end()));
});

describe('a row and a table as of a time with a real row keyed as an erased key’s pseudonym', () => {
  it('reads the real row alone: its own values now, nothing before it existed', async () => {
    const eve = { email: pseudonym, name: 'Eve E.' };
    const state = await rowAsOf(app, 'auditrum', { table: 'public.people', key: pseudonym, at: now });
    expect([state.exists, state.values, state.unknown, state.rebuiltFrom]).toEqual([true, eve, [], 'forward']);
    const before = await rowAsOf(app, 'auditrum', { table: 'public.people', key: pseudonym, at: beforeEve });
    expect([before.exists, before.values]).toEqual([false, {}]);
    const route = (at: Date) =>
      adminRead<RowAsOfResponse>(app, 'api/row-as-of', {
        table: 'public.people',
        key: pseudonym,
        at: at.toISOString(),
      });
    expect(await route(now)).toMatchObject({ exists: true, values: eve, unknown: [] });
    expect(await route(beforeEve)).toMatchObject({ exists: false, values: {} });
  });

  it('lists each row of the table once, with its own values, in every reader', async () => {
    const alice = ['alice@example.com', { email: 'alice@example.com', name: 'Alice L.' }];
    const eve = [pseudonym, { email: pseudonym, name: 'Eve E.' }];
    for (const read of [wholeTable, tablePage, tableExport]) {
      expect(await read(now)).toEqual([alice, eve]);
      // Before Eve's row: not Alice's erased versions under Eve's key (Alice's live row has no version of its own
      // key left: the erasure took it, so it is read from the live table, as before).
      expect((await read(beforeEve)).map(([key]) => key)).toEqual(['alice@example.com']);
    }
    expect(await tablePage(now, { key: 'erased' })).toEqual([eve]);
  });
});
