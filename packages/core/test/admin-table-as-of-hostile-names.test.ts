import { createAuditrum, tableAsOf, withAuditContext } from '@auditrum/core';
import type { AdminHandler, AdminResponse, TableAsOfResponse, TableRowAsOf } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import { useAppRole, useTestDatabase } from '@auditrum/test-kit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allPages, shaped, wholeTable } from './table-as-of-pages.js';

/**
 * A table as of a time (its pages, a search by key, the export) of tables whose schema, name and key columns are named
 * with quotes, dots, commas, braces, spaces, unicode and 63 bytes, with text keys holding commas, quotes, backslashes
 * and control characters, composite keys among them, their log moved into a month that has ended: every page is the
 * whole-table rebuild's rows, without the departures index, with the ended month's (its predicate and tag spell the
 * hostile key names) and with the index on every partition. As a non-superuser application role that owns them.
 */

const db = useTestDatabase();
const role = useAppRole(db);
let app: pg.Pool;
let admin: AdminHandler<null>;
const errors: unknown[] = [];
const times: string[] = [];

const SCHEMA = 'we"ird.sch ema';
// 63 bytes: the longest name PostgreSQL keeps.
const TABLE = `Tä"b.le, {x} ${'n'.repeat(63 - Buffer.byteLength('Tä"b.le, {x} '))}`;
const TEXT_KEY = 'k"ey,{1}\\';
const INT_KEY = 'ñ.2 "x"';
const q = pg.escapeIdentifier;
const composite = `${q(SCHEMA)}.${q(TABLE)}`;
const single = `${q(SCHEMA)}.${q('one key')}`;
/** Texts with what a row_key or a cursor must carry as is. */
const KEYS = [
  'a,b',
  'q"uote',
  "ap'os",
  'back\\slash',
  'tab\there',
  'line\nbreak',
  'bell\u0007',
  '{brace}',
  '[1,"x"]',
  'é',
];

/** Each table: as the admin names it (schema.table, as api/tables lists it), as SQL names it, its rows' key order. */
const TABLES = [
  {
    admin: `${SCHEMA}.${TABLE}`,
    name: composite,
    order: `(row_key::jsonb->>0) COLLATE "C", (row_key::jsonb->>1)::int`,
  },
  { admin: `${SCHEMA}.one key`, name: single, order: 'row_key COLLATE "C"' },
];

async function step(sql: [string, unknown[]?][]): Promise<void> {
  await withAuditContext({ actor: { id: 'u-1' }, source: 'http' }, async () => {
    for (const [statement, values] of sql) await app.query(statement, values);
  });
  const { rows } = await app.query<{ t: string }>(
    `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`,
  );
  times.push(rows[0]?.t as string);
}

function get(path: string, query: Record<string, string>): Promise<AdminResponse> {
  return admin({ method: 'GET', path, query: new URLSearchParams(query), headers: {}, basePath: '', raw: null });
}

async function text(response: AdminResponse): Promise<string> {
  if (typeof response.body === 'string' || Buffer.isBuffer(response.body)) return String(response.body);
  let all = '';
  for await (const chunk of response.body) all += String(chunk);
  return all;
}

beforeAll(async () => {
  app = role.openPool({ max: 2 });
  app.on('error', (error) => errors.push(error));
  await db.pool.query(
    `GRANT SELECT ON auditrum.tracked_tables, auditrum.changes, auditrum.api_requests, auditrum.column_names, auditrum.table_versions TO ${q(role.name)};
     GRANT CREATE ON DATABASE ${q(await currentDatabase())} TO ${q(role.name)}`,
  );
  await app.query(`CREATE SCHEMA ${q(SCHEMA)}`);
  await app.query(
    `CREATE TABLE ${composite} (${q(TEXT_KEY)} text COLLATE "C", ${q(INT_KEY)} int, "v,""al" text,
       PRIMARY KEY (${q(TEXT_KEY)}, ${q(INT_KEY)}))`,
  );
  await app.query(`CREATE TABLE ${single} (${q('the "name"')} text COLLATE "C" PRIMARY KEY, v text)`);
  const auditrum = createAuditrum({ pool: db.pool, partitions: false });
  await auditrum.track(composite);
  await auditrum.track(single);
  createAuditrum({ pool: app, partitions: false });
  await step([]);
  await step(
    KEYS.flatMap((key, i): [string, unknown[]][] => [
      [`INSERT INTO ${composite} VALUES ($1, $2, $3), ($1, $2 + 100, $3)`, [key, i, `v ${key}`]],
      [`INSERT INTO ${single} VALUES ($1, $2)`, [key, `v ${key}`]],
    ]),
  );
  await step([
    [`DELETE FROM ${composite} WHERE ${q(TEXT_KEY)} IN ('a,b', 'q"uote') AND ${q(INT_KEY)} < 100`],
    [`UPDATE ${composite} SET ${q(TEXT_KEY)} = 'moved\\,"' WHERE ${q(TEXT_KEY)} = 'back\\slash' AND ${q(INT_KEY)} = 3`],
    [`DELETE FROM ${single} WHERE ${q('the "name"')} IN ('tab\there', 'bell\u0007')`],
    [`UPDATE ${single} SET ${q('the "name"')} = 'new\nline"' WHERE ${q('the "name"')} = '[1,"x"]'`],
  ]);
  await step([
    [`INSERT INTO ${single} VALUES ('tab\there', 'again')`],
    [`UPDATE ${composite} SET "v,""al" = 'changed' WHERE ${q(TEXT_KEY)} = 'é'`],
  ]);
  // The log moved two months back, into a month that has ended.
  const { rows: months } = await db.pool.query<{ partition: string; start: string; end: string }>(
    `SELECT 'changes_p' || to_char(m, 'YYYY_MM') AS partition, to_char(m, 'YYYY-MM-DD') AS start,
       to_char(m + interval '1 month', 'YYYY-MM-DD') AS end
     FROM (SELECT date_trunc('month', (now() - interval '2 months') AT TIME ZONE 'UTC') AS m) s`,
  );
  const month = months[0] as { partition: string; start: string; end: string };
  await db.pool.query(
    `CREATE TABLE auditrum.${month.partition} PARTITION OF auditrum.changes
     FOR VALUES FROM ('${month.start} 00:00:00+00') TO ('${month.end} 00:00:00+00')`,
  );
  const ids = `(SELECT id FROM auditrum.tracked_tables WHERE schema_name = ${pg.escapeLiteral(SCHEMA)})`;
  for (const [table, column] of [
    ['changes', 'changed_at'],
    ['table_versions', 'recorded_at'],
  ]) {
    await db.pool.query(
      `UPDATE auditrum.${table} SET ${column} = ${column} - interval '2 months' WHERE table_id IN ${ids}`,
    );
  }
  await db.pool.query(
    `UPDATE auditrum.tracked_tables SET tracked_at = tracked_at - interval '2 months' WHERE id IN ${ids}`,
  );
  const { rows } = await db.pool.query<{ t: string }>(
    `SELECT to_char((t::timestamptz - interval '2 months') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t
     FROM unnest($1::text[]) WITH ORDINALITY AS x(t, n) ORDER BY n`,
    [times],
  );
  times.splice(0, times.length, ...rows.map((row) => row.t));
  admin = createAdminRoutes({ pool: app, authorize: () => true, onError: (e) => errors.push(e) });
});

async function currentDatabase(): Promise<string> {
  return (await db.pool.query<{ d: string }>('SELECT current_database() AS d')).rows[0]?.d as string;
}

afterAll(async () => {
  await app?.end();
  expect(errors).toEqual([]);
});

/** Every page (sizes 1 and 4), a search by each of the keys' characters, and the export, as the whole-table rebuild. */
async function expectAsRebuilt(): Promise<void> {
  for (const at of times) {
    for (const table of TABLES) {
      for (const limit of [1, 4]) {
        expect([table.admin, at, limit, shaped(await allPages(admin, table.admin, at, limit))]).toEqual([
          table.admin,
          at,
          limit,
          await wholeTable(app, table, at),
        ]);
      }
      for (const key of [',', '"', '\\', '\t', '\n', '{', '[1,', 'é', "'", '1']) {
        expect([table.admin, at, key, shaped(await allPages(admin, table.admin, at, 2, key))]).toEqual([
          table.admin,
          at,
          key,
          await wholeTable(app, table, at, key),
        ]);
      }
      const exported = await get('api/table-as-of/export', { table: table.admin, at, format: 'ndjson' });
      expect(exported.status).toBe(200);
      const lines = (await text(exported))
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as TableRowAsOf);
      expect(shaped(lines).sort(byKey)).toEqual((await wholeTable(app, table, at)).sort(byKey));
      // The library's stream on a pool (the query _history_table_sql writes, backward from the live table).
      const streamed: TableRowAsOf[] = [];
      for await (const row of await tableAsOf(app, 'auditrum', { table: table.name, at })) {
        streamed.push({ ...row, lastChangedAt: null });
      }
      expect(shaped(streamed).sort(byKey)).toEqual((await wholeTable(app, table, at)).sort(byKey));
    }
  }
}

function byKey(a: unknown, b: unknown): number {
  const [x, y] = [(a as string[])[0] as string, (b as string[])[0] as string];
  return x < y ? -1 : x > y ? 1 : 0;
}

describe('a table as of a time of hostile names and keys', () => {
  it('lists the rows of each time, in key order, with cursors through every key', async () => {
    const page = JSON.parse(
      await text(
        await get('api/table-as-of', { table: TABLES[1]?.admin as string, at: times[1] as string, limit: '3' }),
      ),
    ) as TableAsOfResponse;
    expect(page.items.map((row) => row.rowKey)).toEqual(['[1,"x"]', 'a,b', "ap'os"]);
    await expectAsRebuilt();
  });

  it('reads the same with the ended month’s departures index and with the index on every partition', async () => {
    await db.pool.query('SELECT auditrum.ensure_partitions()');
    const { rows } = await db.pool.query<{ indexed: boolean }>(
      `SELECT auditrum._departures_indexed_until($1, auditrum._departures_tag(auditrum._all_key_names())) IS NOT NULL
         AS indexed`,
      [times[1]],
    );
    expect(rows).toEqual([{ indexed: true }]);
    await expectAsRebuilt();
    await db.pool.query('SELECT auditrum.enable_table_as_of_index()');
    await expectAsRebuilt();
  });

  it('finds a whole key at once (exact), composite ones given as JSON', async () => {
    const page = JSON.parse(
      await text(
        await get('api/table-as-of', {
          table: TABLES[0]?.admin as string,
          at: times[1] as string,
          key: JSON.stringify(['q"uote', 1]),
        }),
      ),
    ) as TableAsOfResponse;
    expect(page.exact?.values).toEqual({ [TEXT_KEY]: 'q"uote', [INT_KEY]: 1, 'v,"al': 'v q"uote' });
  });
});
