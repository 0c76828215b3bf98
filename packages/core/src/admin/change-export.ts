import type { ChangeRow } from '../changes/change-row.js';
import { csvCell } from '../changes/csv.js';
import { pseudonymErasures } from './actor-pseudonyms.js';
import type { AdminResponse } from './admin-http.js';
import type { ApiContext } from './api-context.js';
import type { Change, ExportFormat } from './api-types.js';
import { searchAll, unindexedFilters } from './bounded-search.js';
import type { ChangeCriteria } from './change-filters.js';
import { changeConditions, resolveChangeCriteria, searchConditions } from './change-filters.js';
import { toChange } from './change-rows.js';
import { exportResponse, requiredExportFormat } from './export-response.js';
import { monthsToWalk, newestChanges } from './month-walk.js';
import type { QueryParams } from './query-params.js';
import type { SqlParams } from './sql-builder.js';

/** Rows per query of the export's keyset loop: bounded memory, and each query is a short index range. */
export const EXPORT_BATCH = 1000;

/**
 * `GET api/changes/export`: the filtered changes as a streamed attachment; the first batch is read before
 * answering, so errors are still a 500.
 */
export async function exportChanges(api: ApiContext, params: QueryParams): Promise<AdminResponse> {
  const format = requiredExportFormat(params);
  const criteria = await resolveChangeCriteria(api, params);
  const lines = exportFile(exportedChanges(api, criteria), format)[Symbol.asyncIterator]();
  const first = await lines.next();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return exportResponse(format, `auditrum-changes-${stamp}`, first, lines);
}

export const CSV_COLUMNS = [
  'id',
  'changed_at',
  'txid',
  'schema',
  'table',
  'operation',
  'row_key',
  'actor_id',
  'actor_label',
  'actor_erasure',
  'request_id',
  'source',
  'reason',
  'changed_columns',
  'old_values',
  'new_values',
  'context',
] as const;

/**
 * Every change matching the criteria, newest first, fetched in keyset batches (no cursor object, no OFFSET). A
 * search in values without the trigram index goes through the search's bounded batches instead (see bounded-search).
 */
export async function* exportedChanges(api: ApiContext, criteria: ChangeCriteria): AsyncGenerator<Change> {
  if ((await unindexedFilters(api, criteria)).includes('q')) {
    let rows: ChangeRow[] = [];
    for await (const row of searchAll(api, criteria, ['q'])) {
      rows.push(row);
      if (rows.length === EXPORT_BATCH) {
        yield* await exportedBatch(api, rows);
        rows = [];
      }
    }
    yield* await exportedBatch(api, rows);
    return;
  }
  const months = await monthsToWalk(api, criteria);
  let beforeId: string | undefined;
  for (;;) {
    const conditions = (sql: SqlParams) => {
      const all = changeConditions(criteria, sql, api.schemaSql);
      if (criteria.q !== undefined) all.push(...searchConditions(criteria.q, sql));
      if (beforeId !== undefined) all.push(`c.id < ${sql.add(beforeId)}::bigint`);
      return all;
    };
    const rows = await newestChanges(api, criteria, months, conditions, EXPORT_BATCH);
    yield* await exportedBatch(api, rows);
    if (rows.length < EXPORT_BATCH) return;
    beforeId = rows.at(-1)?.id;
  }
}

/** A batch of stored changes as exported, an actor id that an erasure made its pseudonym with that erasure. */
async function exportedBatch(api: ApiContext, rows: readonly ChangeRow[]): Promise<Change[]> {
  const pseudonyms = await pseudonymErasures(
    api,
    'changes',
    rows.map((row) => ({ id: row.id, actorId: row.actor_id })),
  );
  return rows.map((row) => toChange(row, api.tablesById, undefined, pseudonyms.get(row.id)));
}

/** The export file, line by line; batches of lines are joined so the socket sees few, larger writes. */
export async function* exportFile(changes: AsyncIterable<Change>, format: ExportFormat): AsyncGenerator<string> {
  let chunk = format === 'csv' ? `${CSV_COLUMNS.join(',')}\r\n` : '';
  let lines = 0;
  for await (const change of changes) {
    chunk += format === 'csv' ? `${csvLine(change)}\r\n` : `${JSON.stringify(change)}\n`;
    if (++lines % 200 === 0) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk !== '') yield chunk;
}

function csvLine(change: Change): string {
  const json = (value: unknown) => (value === null ? '' : JSON.stringify(value));
  return [
    change.id,
    change.changedAt,
    change.txid,
    change.schema,
    change.table,
    change.operation,
    change.rowKey ?? '',
    change.actor?.id ?? '',
    change.actor?.label ?? '',
    change.actor?.erasure ?? '',
    change.requestId ?? '',
    change.source,
    change.reason ?? '',
    change.changedColumns?.join(' ') ?? '',
    json(change.oldValues),
    json(change.newValues),
    json(change.context),
  ]
    .map(csvCell)
    .join(',');
}
