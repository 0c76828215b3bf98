import type { ChangeRow } from '../changes/change-row.js';
import { csvCell } from '../changes/csv.js';
import type { AdminResponse } from './admin-http.js';
import type { ApiContext } from './api-context.js';
import type { Change, ExportFormat } from './api-types.js';
import { nextBelow, SEARCH_LIMITS, searchLimits, searchStep, searchSteps, unindexedFilters } from './bounded-search.js';
import type { ChangeCriteria } from './change-filters.js';
import { changeConditions, resolveChangeCriteria, searchConditions } from './change-filters.js';
import { pseudonymMarks, toChange } from './change-rows.js';
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
  'key_erasure',
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
 * Every change matching the criteria, newest first, a batch at a time (keyset batches: no cursor object, no OFFSET).
 * With filters no index serves (a search in values, a changed column, a source, an operation tested on the walk: see
 * unindexedFilters) the first batch is the list's first page's, bounded (10,000 changes; 2,500 for a search in values),
 * and yielded even when none of its rows matched, so that the file begins at once: a column no change has made the
 * route read the whole log before answering (0.47 s of server CPU at 10,000,000 changes, 4 ms now; docs/benchmarks.md,
 * session 12). The rest is read by the keyset batches, in one walk of the log each (bounded steps throughout cost ten
 * times as much for that column: 4.6 s), except a search in values, which goes on in bounded steps (PostgreSQL cannot
 * estimate how many rows hold a word, and, given the whole condition, may read and sort the whole log).
 */
export async function* exportedChanges(api: ApiContext, criteria: ChangeCriteria): AsyncGenerator<Change[]> {
  const tested = await unindexedFilters(api, criteria);
  let beforeId: string | undefined;
  if (tested.length > 0) {
    const first = await searchStep(
      api,
      criteria,
      tested,
      undefined,
      EXPORT_BATCH,
      searchLimits(tested, criteria).first,
    );
    yield await exportedBatch(api, first.matches);
    beforeId = nextBelow(first, EXPORT_BATCH);
    if (beforeId === undefined) return;
    if (tested.includes('q')) {
      const steps = searchSteps(api, criteria, tested, EXPORT_BATCH, SEARCH_LIMITS.batch, beforeId);
      for await (const rows of steps) yield await exportedBatch(api, rows);
      return;
    }
  }
  const months = await monthsToWalk(api, criteria);
  for (;;) {
    const conditions = (sql: SqlParams) => {
      const all = changeConditions(criteria, sql, api.schemaSql);
      if (criteria.q !== undefined) all.push(...searchConditions(criteria.q, sql));
      if (beforeId !== undefined) all.push(`c.id < ${sql.add(beforeId)}::bigint`);
      return all;
    };
    const rows = await newestChanges(api, criteria, months, conditions, EXPORT_BATCH);
    yield await exportedBatch(api, rows);
    if (rows.length < EXPORT_BATCH) return;
    beforeId = rows.at(-1)?.id;
  }
}

/** A batch of stored changes as exported, an actor id or a row key that an erasure made its pseudonym marked so. */
async function exportedBatch(api: ApiContext, rows: readonly ChangeRow[]): Promise<Change[]> {
  const marks = await pseudonymMarks(api, rows);
  return rows.map((row) => toChange(row, api.tablesById, marks(row.id)));
}

/**
 * The export file, a chunk at a time: lines joined so the socket sees few, larger writes, and a chunk after the first
 * batch whatever it holds (the CSV header alone, or nothing at all for NDJSON: the adapters write it, which sends the
 * headers), so that the download starts once one bounded batch was read without error.
 */
export async function* exportFile(
  batches: AsyncIterable<readonly Change[]>,
  format: ExportFormat,
): AsyncGenerator<string> {
  let chunk = format === 'csv' ? `${CSV_COLUMNS.join(',')}\r\n` : '';
  let lines = 0;
  let started = false;
  for await (const batch of batches) {
    for (const change of batch) {
      chunk += format === 'csv' ? `${csvLine(change)}\r\n` : `${JSON.stringify(change)}\n`;
      if (++lines % 200 === 0) {
        yield chunk;
        chunk = '';
        started = true;
      }
    }
    if (!started) {
      yield chunk;
      chunk = '';
      started = true;
    }
  }
  if (chunk !== '' || !started) yield chunk;
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
    change.keyErasure ?? '',
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
