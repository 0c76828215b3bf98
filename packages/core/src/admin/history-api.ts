import type { ChangeRow } from '../changes/change-row.js';
import { changeColumns } from '../changes/change-row.js';
import { keyPseudonymExclusion } from './actor-pseudonyms.js';
import type { ApiContext } from './api-context.js';
import type { HistoryResponse, ReadRouteParams, RowVersion } from './api-types.js';
import { resolveTable, scopeConditions, visibleTables } from './change-filters.js';
import { toChanges } from './change-rows.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { badParameter } from './errors.js';
import type { FoldStart, HistoryCheckpoint } from './history-checkpoints.js';
import { checkpointStart, rowCheckpoints } from './history-checkpoints.js';
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
 * A version's state depends on every earlier change, so the row's changes are folded in id order, in batches on the
 * (table_id, row_key, id) index; only the page is kept. The table's TRUNCATEs (stored without a key) end the row
 * too. The fold starts from the nearest state ensure_partitions() kept below the page (and below `at`) for a row
 * changed very many times (history-checkpoints.ts), else from the row's first change: the same versions either way.
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
  const wholeRow = keyPseudonymExclusion(api.schemaSql, key, new SqlParams()).length === 0;
  const checkpoints = await rowCheckpoints(api, table.id, key, wholeRow);
  // A kept state gone meanwhile (made again): the fold starts from the first change.
  const start = async (checkpoint: HistoryCheckpoint | undefined) =>
    checkpoint === undefined ? undefined : await checkpointStart(api, table.id, key, checkpoint);

  // The page: from the newest kept state below its end, or an older one when fewer than `limit` versions follow it.
  // The state at `at` from the newest kept state whose versions are all at or before it: in the same fold when that
  // is the page's start.
  const atFrom = atMicros === undefined ? undefined : checkpoints.findLast((c) => c.latestMicros <= atMicros);
  let pageFrom = checkpoints.findLast((c) => end === undefined || BigInt(c.changeId) < end);
  let page: PageVisitor;
  let stateAt: StateAtVisitor | undefined;
  for (;;) {
    const from = await start(pageFrom);
    page = new PageVisitor(limit, end, from);
    stateAt = atMicros !== undefined && atFrom === pageFrom ? new StateAtVisitor(atMicros, from) : undefined;
    await foldRow(api, table.id, key, from, stateAt ? [page, stateAt] : [page]);
    if (page.versions.length >= limit || from === undefined) break;
    const before = page.inRange - limit;
    pageFrom = checkpoints.findLast((c) => c.versions <= before);
  }
  if (!stateAt) {
    const from = atMicros === undefined ? undefined : await start(atFrom);
    stateAt = new StateAtVisitor(atMicros, from);
    if (!stateAt.done) await foldRow(api, table.id, key, from, [stateAt]);
  }
  const versions = page.versions.slice(-limit);
  const first = versions[0];
  return {
    versions,
    firstNumber: page.inRange - versions.length + 1,
    nextCursor: first && page.inRange > versions.length ? encodeCursor('history', first.change.id) : null,
    newer:
      page.newerCount === 0
        ? null
        : { cursor: page.newerEnd === undefined ? null : encodeCursor('history', page.newerEnd) },
    stateAt: stateAt.state,
    stateAtOversized: stateAt.oversized,
    stateAtErased: stateAt.erased,
  };
}

/** What a fold hands each version to; `done` once it needs no more. */
interface VersionVisitor {
  readonly done: boolean;
  visit(version: RowVersion): void;
}

/**
 * The page's versions (those before `end`, the newest kept up to twice `limit` at a time), how many versions come
 * before `end` in all (`inRange`, from the kept state's count), and the versions after it, counted up to one past a
 * page of them: where the newer page ends.
 */
class PageVisitor implements VersionVisitor {
  versions: RowVersion[] = [];
  inRange: number;
  newerCount = 0;
  newerEnd: string | undefined;

  constructor(
    private readonly limit: number,
    private readonly end: bigint | undefined,
    from: FoldStart | undefined,
  ) {
    this.inRange = from?.checkpoint.versions ?? 0;
  }

  get done(): boolean {
    return this.newerEnd !== undefined;
  }

  visit(version: RowVersion): void {
    if (this.end === undefined || BigInt(version.change.id) < this.end) {
      this.inRange += 1;
      this.versions.push(version);
      if (this.versions.length >= 2 * this.limit) this.versions = this.versions.slice(-this.limit);
    } else {
      this.newerCount += 1;
      if (this.newerCount === this.limit + 1) this.newerEnd = version.change.id;
    }
  }
}

/**
 * The row at `atMicros`: its state after the last version before the first (in id order) whose time is after it.
 * Started from a kept state whose versions' times are all at or before it (the state it holds, until a version says
 * otherwise); null when no time is asked.
 */
class StateAtVisitor implements VersionVisitor {
  state: Record<string, unknown> | null = null;
  oversized: string[] = [];
  erased: string[] = [];
  done: boolean;

  constructor(
    private readonly atMicros: number | undefined,
    from: FoldStart | undefined,
  ) {
    this.done = atMicros === undefined;
    if (!from || this.done) return;
    this.state = from.fold.state;
    this.oversized = [...from.fold.oversized].sort();
    this.erased = [...from.fold.erased].sort();
  }

  visit(version: RowVersion): void {
    if (this.done) return;
    if (epochMicros(version.change.changedAt) > (this.atMicros as number)) this.done = true;
    else {
      this.state = version.state;
      this.oversized = version.oversized;
      this.erased = version.erased;
    }
  }
}

/**
 * Folds the row's changes and the table's TRUNCATEs after `start` (or from the first) in id order, a batch at a time,
 * handing each version to the visitors, until every visitor is done or the log ends.
 */
async function foldRow(
  api: ApiContext,
  tableId: number,
  key: string,
  start: FoldStart | undefined,
  visitors: readonly VersionVisitor[],
): Promise<void> {
  const fold = new RowHistoryFold(start?.fold);
  let afterId = start?.checkpoint.changeId ?? '0';
  for (;;) {
    const sql = new SqlParams();
    const common = [
      `c.table_id = ${sql.add(tableId)}`,
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
      if (version) for (const visitor of visitors) visitor.visit(version);
    }
    const last = rows.at(-1);
    if (rows.length < BATCH || !last || visitors.every((visitor) => visitor.done)) return;
    afterId = last.id;
  }
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
