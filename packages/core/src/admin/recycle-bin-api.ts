import { deletedRows } from '../history/restore/deleted-rows.js';
import type { ApiContext } from './api-context.js';
import type { DeletedRowsResponse, ReadRouteParams } from './api-types.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { historyTable, liveTableName } from './history-params.js';
import type { QueryParams } from './query-params.js';
import { restoreFailure } from './restore-errors.js';

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
      ...(before === undefined ? {} : { before }),
    });
    return {
      items: page.rows.map((row) => ({ ...row, deletedAt: row.deletedAt.toISOString() })),
      nextCursor: page.next === null ? null : encodeCursor('deleted', page.next),
    };
  } catch (error) {
    throw restoreFailure(error, 'table');
  }
}
