import type { ChangeRow } from '../changes/change-row.js';
import { changeColumns } from '../changes/change-row.js';
import { keyPseudonymExclusion } from './actor-pseudonyms.js';
import type { ApiContext } from './api-context.js';
import type { HistoryResponse, ReadRouteParams, RowVersion } from './api-types.js';
import { resolveTable, scopeConditions, visibleTables } from './change-filters.js';
import { toChanges } from './change-rows.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { badParameter } from './errors.js';
import type { QueryParams } from './query-params.js';
import { epochMicros, MAX_KEY_TEXT } from './query-params.js';
import { RowHistoryFold } from './row-history.js';
import { SqlParams, whereClause } from './sql-builder.js';

/** Changes read per query while folding a row's history: memory stays bounded however often the row changed. */
const BATCH = 1000;
const BIGINT_ID = /^\d{1,19}$/;
const BIGINT_MAX = 9223372036854775807n;

/**
 * `GET api/history?table&key&at&limit&cursor|through`: one page of a row's versions, oldest first, each with the
 * row's state after it: the newest `limit`, or those before `cursor` (the previous page's `nextCursor`), or
 * those up to and including the change `through`. `stateAt` is the row at `at`, whatever the page; `newer` leads to
 * the page of the `limit` versions after this one.
 *
 * A version's state depends on every earlier change, so the row's changes are read from its first, in batches
 * on the (table_id, row_key, id) index, and folded; only the page is kept. The table's TRUNCATEs (stored without
 * a key) end the row too.
 */
export async function rowHistory(
  api: ApiContext,
  params: QueryParams<keyof ReadRouteParams['history']>,
): Promise<HistoryResponse> {
  const table = resolveTable(params.required('table', 300), 'table', visibleTables(api.tables, api.scope));
  const key = params.required('key', MAX_KEY_TEXT);
  const at = params.instant('at');
  const limit = params.limit();
  const end = pageEnd(params);
  const atMicros = at === undefined ? undefined : epochMicros(at);

  const fold = new RowHistoryFold();
  let page: RowVersion[] = [];
  let inRange = 0;
  let stateAt: Record<string, unknown> | null = null;
  let stateAtOversized: string[] = [];
  let stateAtErased: string[] = [];
  let pastAt = atMicros === undefined;
  // The versions after the page (newer), counted up to one past a page of them: where the newer page ends.
  let newerCount = 0;
  let newerEnd: string | undefined;
  let afterId = '0';
  for (;;) {
    const sql = new SqlParams();
    const common = [
      `c.table_id = ${sql.add(table.id)}`,
      // Never the versions an erasure gave a key pseudonym of the same text: another row's.
      ...keyPseudonymExclusion(api.schemaSql, key, sql),
      `c.id > ${sql.add(afterId)}::bigint`,
      ...scopeConditions(api, sql),
    ];
    // The row's changes and the table's TRUNCATEs, each arm read in id order on the row index: given both in one
    // condition (an OR), the planner walked the primary key of every month from the log's first id for a row whose
    // changes are all recent (a row changed 200,000 times in the last day, at 10,000,000 changes: 2 s of server CPU
    // for the first batch).
    const arm = (row: string) =>
      `(SELECT ${changeColumns(api.schemaSql)} FROM ${api.schemaSql}.changes c
        WHERE ${whereClause([...common, row])} ORDER BY c.id LIMIT ${BATCH})`;
    const { rows } = await api.pool.query<ChangeRow>(
      `SELECT c.* FROM (${arm(`c.row_key = ${sql.add(key)}`)} UNION ALL
         ${arm(`c.row_key IS NULL AND c.operation = 'TRUNCATE'`)}) c
       ORDER BY c.id::bigint LIMIT ${BATCH}`,
      sql.values,
    );
    for (const change of await toChanges(api, rows)) {
      const version = fold.add(change);
      if (!version) continue;
      if (!pastAt) {
        if (epochMicros(version.change.changedAt) > (atMicros as number)) pastAt = true;
        else {
          stateAt = version.state;
          stateAtOversized = version.oversized;
          stateAtErased = version.erased;
        }
      }
      if (end === undefined || BigInt(version.change.id) < end) {
        inRange += 1;
        page.push(version);
        if (page.length >= 2 * limit) page = page.slice(-limit);
      } else {
        newerCount += 1;
        if (newerCount === limit + 1) newerEnd = version.change.id;
      }
    }
    const last = rows.at(-1);
    if (rows.length < BATCH || !last) break;
    afterId = last.id;
    if (end !== undefined && BigInt(afterId) >= end && pastAt && newerEnd !== undefined) break;
  }
  page = page.slice(-limit);
  const first = page[0];
  return {
    versions: page,
    firstNumber: inRange - page.length + 1,
    nextCursor: first && inRange > page.length ? encodeCursor('history', first.change.id) : null,
    newer: newerCount === 0 ? null : { cursor: newerEnd === undefined ? null : encodeCursor('history', newerEnd) },
    stateAt,
    stateAtOversized,
    stateAtErased,
  };
}

/** The change id the page ends before: from `cursor`, or one past `through`; neither means the newest. */
function pageEnd(params: QueryParams<keyof ReadRouteParams['history']>): bigint | undefined {
  const cursor = params.text('cursor', 64);
  const through = params.text('through', 32);
  if (cursor !== undefined && through !== undefined) {
    throw badParameter('through', 'cannot be given with cursor: pass one or the other');
  }
  if (cursor !== undefined) return BigInt(decodeCursor('history', cursor));
  if (through === undefined) return undefined;
  if (!BIGINT_ID.test(through) || BigInt(through) > BIGINT_MAX) throw badParameter('through', 'must be a change id');
  return BigInt(through) + 1n;
}
