import { blame } from '../history/blame.js';
import type { ApiContext } from './api-context.js';
import type { BlameResponse, ReadRouteParams } from './api-types.js';
import { asInput, historyTable, liveTableName, parseRowKey } from './history-params.js';
import type { QueryParams } from './query-params.js';
import { MAX_KEY_TEXT } from './query-params.js';

/**
 * `GET api/blame?table&key&field`: per field of the row (or the one `field`, by today's name), the change that set
 * its current value, with its actor, request, transaction and reason, or why that is not known.
 */
export async function rowBlame(
  api: ApiContext,
  params: QueryParams<keyof ReadRouteParams['blame']>,
): Promise<BlameResponse> {
  const table = historyTable(api, params.required('table', 300));
  const key = parseRowKey(params.required('key', MAX_KEY_TEXT));
  const field = params.text('field', 63);
  return await asInput(async () =>
    blame(api.pool, api.schema, {
      table: await liveTableName(api, table),
      key,
      ...(field === undefined ? {} : { field }),
    }),
  );
}
