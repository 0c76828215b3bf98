import { blame } from '../history/blame.js';
import type { BlameChange } from '../history/blame-types.js';
import { pseudonymErasures } from './actor-pseudonyms.js';
import type { ApiContext } from './api-context.js';
import type { AdminBlameChange, BlameResponse, ReadRouteParams } from './api-types.js';
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
  const blamed = await asInput(async () =>
    blame(api.pool, api.schema, {
      table: await liveTableName(api, table),
      key,
      ...(field === undefined ? {} : { field }),
    }),
  );
  const changes = [...blamed.fields.map((f) => f.change), blamed.deletedBy].filter((c) => c !== null);
  const pseudonyms = await pseudonymErasures(
    api,
    'changes',
    changes.map((c) => ({ id: c.id, text: c.actorId })),
  );
  const withErasure = (change: BlameChange | null): AdminBlameChange | null => {
    if (change === null) return null;
    const erasure = pseudonyms.get(change.id);
    return erasure === undefined ? change : { ...change, actorErasure: erasure };
  };
  return {
    ...blamed,
    fields: blamed.fields.map((f) => ({ ...f, change: withErasure(f.change) })),
    deletedBy: withErasure(blamed.deletedBy),
  };
}
