import type { AdminHandler, TableAsOfResponse, TableRowAsOf } from '@auditrum/core/admin';
import type pg from 'pg';
import { expect } from 'vitest';

/** A tracked table and its rows' order by row_key, as its primary key sorts them (for the whole-table rebuild). */
export interface OrderedTable {
  name: string;
  order: string;
}

/** Every row of `table` as of `at` through api/table-as-of, page after page of `limit` rows (with `key`, filtered). */
export async function allPages(
  admin: AdminHandler<null>,
  table: string,
  at: string,
  limit: number,
  key?: string,
): Promise<TableRowAsOf[]> {
  const rows: TableRowAsOf[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 200; pages++) {
    const response = await admin({
      method: 'GET',
      path: 'api/table-as-of',
      query: new URLSearchParams({
        table,
        at,
        limit: String(limit),
        ...(key === undefined ? {} : { key }),
        ...(cursor === null ? {} : { cursor }),
      }),
      headers: {},
      basePath: '/audit-admin',
      raw: null,
    });
    if (response.status !== 200) throw new Error(String(response.body));
    const page = JSON.parse(response.body as string) as TableAsOfResponse;
    rows.push(...page.items);
    cursor = page.nextCursor;
    if (cursor === null) return rows;
  }
  throw new Error('more than 200 pages');
}

/** The whole-table rebuild (table_as_of) in the table's key order, shaped as `shaped` shapes a page's rows. */
export async function wholeTable(pool: pg.Pool, table: OrderedTable, at: string, key?: string): Promise<unknown[]> {
  const { rows } = await pool.query(
    `SELECT row_key, "exists", "values", unknown, last_change_id::text AS last_change_id, rebuilt_from
     FROM auditrum.table_as_of($1::regclass, $2::timestamptz) WHERE $3::text IS NULL OR strpos(row_key, $3) > 0
     ORDER BY ${table.order}`,
    [table.name, at, key ?? null],
  );
  return rows.map((row) => [row.row_key, row.exists, row.values, row.unknown, row.last_change_id, row.rebuilt_from]);
}

export function shaped(rows: TableRowAsOf[]): unknown[] {
  return rows.map((row) => [row.rowKey, row.exists, row.values, row.unknown, row.lastChangeId, row.rebuiltFrom]);
}

/**
 * Every table at every time, paged with each of `limits` and with a key filter (`1`, 2 rows a page), equals the
 * whole-table rebuild, row for row.
 */
export async function expectEveryPageAsRebuilt(
  admin: AdminHandler<null>,
  pool: pg.Pool,
  tables: readonly OrderedTable[],
  times: readonly string[],
  limits: readonly number[] = [1, 3],
): Promise<void> {
  for (const [index, at] of times.entries()) {
    for (const table of tables) {
      const whole = await wholeTable(pool, table, at);
      for (const limit of limits) {
        expect([table.name, index, limit, shaped(await allPages(admin, table.name, at, limit))]).toEqual([
          table.name,
          index,
          limit,
          whole,
        ]);
      }
      expect(shaped(await allPages(admin, table.name, at, 2, '1'))).toEqual(await wholeTable(pool, table, at, '1'));
    }
  }
}
