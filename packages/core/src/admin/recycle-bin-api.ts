import { deletedRows } from '../history/restore/deleted-rows.js';
import type { ApiContext } from './api-context.js';
import type { DeletedRowsResponse, ReadRouteParams } from './api-types.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { historyTable, liveTableName } from './history-params.js';
import type { QueryParams } from './query-params.js';
import { restoreFailure } from './restore-errors.js';

/**
 * How many ids of the current month's changes a page reads at most for the bin's DELETEs (no index holds them; about
 * 10 and 30 ms of server CPU): a first page and one asked for with its cursor ("Next page", reading further back).
 */
const SEARCH_LIMIT = { first: 50_000, later: 150_000 } as const;

/** `GET api/deleted?table&limit&cursor`: a page of the table's recycle bin, newest DELETE first. */
export async function recycleBin(
  api: ApiContext,
  params: QueryParams<keyof ReadRouteParams['deleted']>,
): Promise<DeletedRowsResponse> {
  const table = historyTable(api, params.required('table', 300));
  const limit = params.limit();
  const cursor = params.text('cursor', 64);
  const before = cursor === undefined ? undefined : decodeCursor('deleted', cursor);
  try {
    const page = await deletedRows(api.pool, api.schema, {
      table: await liveTableName(api, table),
      limit,
      searchLimit: before === undefined ? SEARCH_LIMIT.first : SEARCH_LIMIT.later,
      ...(before === undefined ? {} : { before }),
    });
    return {
      items: page.rows.map((row) => ({ ...row, deletedAt: row.deletedAt.toISOString() })),
      nextCursor: page.next === null ? null : encodeCursor('deleted', page.next),
      ...(page.searchedTo === undefined ? {} : { searchedTo: page.searchedTo.toISOString() }),
    };
  } catch (error) {
    throw restoreFailure(error, 'table');
  }
}
