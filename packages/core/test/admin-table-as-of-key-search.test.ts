import { createAuditrum } from '@auditrum/core';
import type { AdminErrorBody, AdminHandler, TableAsOfResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { grantLogReads, useAppRole, useTestDatabase } from '@auditrum/test-kit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `api/table-as-of?key=` finds the rows whose key contains a text by reading the table's keys in key order, which no
 * index serves: a page reads at most 10,000 of the live table's keys (the first page) or 15,000 (each later one),
 * with the keys of rows gone since up to the same key (migration 27). A page that reached its bound before it was full
 * says how far it searched (`searchedTo`, the last key it read) and its cursor goes on after it; every row is found
 * once, in key order, the gone ones too. On a real database, as a non-superuser application role that owns its tables.
 */

const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let admin: AdminHandler<null>;
const errors: unknown[] = [];
let at = '';

async function call(query: Record<string, string>): Promise<{ status: number; body: unknown }> {
  const response = await admin({
    method: 'GET',
    path: 'api/table-as-of',
    query: new URLSearchParams(query),
    headers: {},
    basePath: '/audit-admin',
    raw: null,
  });
  return { status: response.status, body: JSON.parse(response.body as string) };
}

/** Each page of the search, walked with its cursor: its row keys, `searchedTo` and whether a cursor follows. */
async function pages(query: Record<string, string>): Promise<[string[], string | undefined, boolean][]> {
  const walked: [string[], string | undefined, boolean][] = [];
  let cursor: string | null = null;
  do {
    const response = await call({ ...query, ...(cursor === null ? {} : { cursor }) });
    if (response.status !== 200) throw new Error(JSON.stringify(response));
    const page = response.body as TableAsOfResponse;
    walked.push([page.items.map((row) => row.rowKey), page.searchedTo, page.nextCursor !== null]);
    cursor = page.nextCursor;
  } while (cursor !== null && walked.length < 20);
  return walked;
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  app.on('error', (error) => errors.push(error));
  await grantLogReads(db, role);
  // Rows from before tracking (nothing logged of them until they change): more keys than one page reads.
  await app.query('CREATE TABLE many (id int PRIMARY KEY, v text)');
  await app.query(`INSERT INTO many SELECT g, 'v' || g FROM generate_series(1, 130000) g`);
  await app.query('CREATE TABLE codes (code text COLLATE "C" PRIMARY KEY)');
  await app.query(`INSERT INTO codes SELECT 'c' || lpad(g::text, 6, '0') FROM generate_series(1, 30000) g`);
  await app.query('CREATE TABLE grid (a int, b int, PRIMARY KEY (a, b))');
  await app.query('INSERT INTO grid SELECT a, b FROM generate_series(1, 300) a, generate_series(1, 100) b');
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  for (const table of ['many', 'codes', 'grid']) await auditrum.track(`public.${table}`);
  createAuditrum({ pool: app, partitions: false });
  const { rows } = await app.query<{ t: string }>(
    `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`,
  );
  at = rows[0]?.t as string;
  // Gone since the time: one key within the first page's bound, one beyond it; both existed then.
  await app.query('DELETE FROM many WHERE id IN (12345, 123451)');
  await app.query(`DELETE FROM codes WHERE code = 'c025000'`);
  admin = createAdminRoutes({ pool: app, authorize: () => true, onError: (e) => errors.push(e) });
});

afterAll(async () => {
  await app?.end();
  expect(errors).toEqual([]);
});

describe('api/table-as-of with a key filter, a bounded part of the table per page', () => {
  it('stops at its bound, says how far it searched, and goes on from there to the last match', async () => {
    expect(await pages({ table: 'public.many', at, key: '12345' })).toEqual([
      // The first 10,000 live keys: none contains it.
      [[], '10000', true],
      // The next 15,000 live keys (up to 25001: 12345 is gone), with the gone ones up to there: 12345 existed then.
      [['12345'], '25001', true],
      // 15,000 live keys a page.
      [[], '40001', true],
      [[], '55001', true],
      [[], '70001', true],
      [[], '85001', true],
      [[], '100001', true],
      [['112345'], '115001', true],
      // The last 14,998: fewer than a page reads, so no bound and no cursor; 123451 deleted since.
      [
        ['123450', '123451', '123452', '123453', '123454', '123455', '123456', '123457', '123458', '123459'],
        undefined,
        false,
      ],
    ]);
    // None within the bound: an empty page that says so, and the next one goes on.
    const empty = (await call({ table: 'public.many', at, key: '129999' })).body as TableAsOfResponse;
    expect([empty.items, empty.searchedTo, typeof empty.nextCursor]).toEqual([[], '10000', 'string']);
  });

  it('gives a full page without searchedTo when the matches fill it before the bound', async () => {
    const page = (await call({ table: 'public.many', at, key: '7', limit: '3' })).body as TableAsOfResponse;
    expect([page.items.map((row) => [row.rowKey, row.values]), page.searchedTo]).toEqual([
      [
        ['7', { id: 7, v: 'v7' }],
        ['17', { id: 17, v: 'v17' }],
        ['27', { id: 27, v: 'v27' }],
      ],
      undefined,
    ]);
    const next = (await call({ table: 'public.many', at, key: '7', limit: '3', cursor: page.nextCursor as string }))
      .body as TableAsOfResponse;
    expect(next.items.map((row) => row.rowKey)).toEqual(['37', '47', '57']);
  });

  it('reads no bound without a key filter', async () => {
    const page = (await call({ table: 'public.many', at, limit: '2' })).body as TableAsOfResponse;
    expect([page.items.map((row) => row.rowKey), page.searchedTo]).toEqual([['1', '2'], undefined]);
  });

  it('bounds a text key and a composite key in their key order', async () => {
    expect(await pages({ table: 'public.codes', at, key: '25000' })).toEqual([
      [[], 'c010000', true],
      // Deleted since; the page reads 15,000 live keys, up to c025001.
      [['c025000'], 'c025001', true],
      [[], undefined, false],
    ]);
    // 300 × 100 keys, in (a, b) order: the first page reads up to [100, 100].
    expect(await pages({ table: 'public.grid', at, key: '[250, 7]' })).toEqual([
      [[], '[100, 100]', true],
      [['[250, 7]'], '[250, 100]', true],
      [[], undefined, false],
    ]);
  });

  it('answers an exact key on the first page through the primary key, beyond the bound too, and only there', async () => {
    const exact = async (table: string, key: string, cursor?: string) => {
      const page = (await call({ table, at, key, ...(cursor === undefined ? {} : { cursor }) }))
        .body as TableAsOfResponse;
      return page.exact === undefined ? undefined : [page.exact.rowKey, page.exact.values, page.exact.exists];
    };
    expect(await exact('public.many', '129999')).toEqual(['129999', { id: 129999, v: 'v129999' }, true]);
    // Deleted since: it existed then.
    expect(await exact('public.many', '123451')).toEqual(['123451', { id: 123451, v: 'v123451' }, true]);
    expect(await exact('public.codes', 'c025000')).toEqual(['c025000', { code: 'c025000' }, true]);
    expect(await exact('public.grid', '[250, 7]')).toEqual(['[250, 7]', { a: 250, b: 7 }, true]);
    // No such row then, no key of the table (not a whole number; not JSON for a composite key), a later page: none.
    for (const [table, key] of [
      ['public.many', '130001'],
      ['public.many', '12.5'],
      ['public.many', 'abc'],
      ['public.grid', '[250, 7'],
      ['public.grid', '250'],
    ] as const) {
      expect(await exact(table, key)).toBeUndefined();
    }
    const first = (await call({ table: 'public.many', at, key: '129999' })).body as TableAsOfResponse;
    expect(await exact('public.many', '129999', first.nextCursor as string)).toBeUndefined();
  });

  it('refuses a cursor that names no key of the table with a 400 naming the cursor', async () => {
    for (const cursor of [Buffer.from('k:abc').toString('base64url'), Buffer.from('k:').toString('base64url')]) {
      const response = await call({ table: 'public.many', at, key: '1', cursor });
      const { error } = response.body as AdminErrorBody;
      expect([response.status, error.parameter]).toEqual([400, 'cursor']);
    }
  });

  it('table_as_of_bound refuses a bad number of keys and a bad cursor, in SQL, with a clear error', async () => {
    await expect(app.query(`SELECT auditrum.table_as_of_bound('many', NULL, 0)`)).rejects.toThrow(
      /reads at least 1 key, not 0/,
    );
    await expect(app.query(`SELECT auditrum.table_as_of_bound('many', 'x', 10)`)).rejects.toThrow(
      /the cursor x is not a row key of table public.many/,
    );
    const { rows } = await app.query(`SELECT auditrum.table_as_of_bound('many', '129990', 10) AS last`);
    expect(rows).toEqual([{ last: '130000' }]);
  });
});
