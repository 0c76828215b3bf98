import { tableCsvHeader, tableCsvLine } from '../changes/csv.js';
import type { TableRowState } from '../history/history-types.js';
import { tableAsOf } from '../history/table-as-of.js';
import type { AdminResponse } from './admin-http.js';
import type { ApiContext } from './api-context.js';
import type { ExportFormat, ReadRouteParams, TableRowAsOf } from './api-types.js';
import { requiredInstant } from './as-of-api.js';
import { exportResponse, requiredExportFormat } from './export-response.js';
import { asInput, historyTable, liveTableName } from './history-params.js';
import type { QueryParams } from './query-params.js';

/**
 * `GET api/table-as-of/export?table&at&key&format=csv|ndjson`: every row that existed at `at` (with `key`, those
 * whose key contains it), streamed from the database with COPY as the client reads it: memory does not grow with
 * the table. Rows come in no particular order. CSV has today's columns, then `unknown` naming the values that
 * cannot be known (`column:reason`, space separated), so that an empty cell is a NULL and never an unknown value;
 * NDJSON has one `TableRowAsOf` per line. The first row is read before answering, so a failure is still an error
 * status.
 */
export async function exportTableAsOf(
  api: ApiContext,
  params: QueryParams<keyof ReadRouteParams['table-as-of/export']>,
): Promise<AdminResponse> {
  const format = requiredExportFormat(params);
  const table = historyTable(api, params.required('table', 300));
  const at = requiredInstant(params, 'at');
  const contains = params.text('key');
  const name = await liveTableName(api, table);
  const snapshot = await asInput(() => tableAsOf(api.pool, api.schema, { table: name, at }));
  const lines = snapshotLines(snapshot, snapshot.columns, format, contains)[Symbol.asyncIterator]();
  const first = await asInput(() => lines.next());
  const stamp = at.replace(/[:.]/g, '-');
  const fileName = `${table.schema}.${table.table}`.replace(/[^A-Za-z0-9_.-]/g, '_');
  return exportResponse(format, `${fileName}-as-of-${stamp}`, first, lines);
}

async function* snapshotLines(
  rows: AsyncIterable<TableRowState>,
  columns: readonly string[],
  format: ExportFormat,
  contains: string | undefined,
): AsyncGenerator<string> {
  if (format === 'csv') yield `${tableCsvHeader(columns)}\n`;
  for await (const row of rows) {
    if (contains !== undefined && !row.rowKey.includes(contains)) continue;
    if (format === 'ndjson') {
      const line: TableRowAsOf = { ...row, lastChangedAt: row.lastChangedAt?.toISOString() ?? null };
      yield `${JSON.stringify(line)}\n`;
      continue;
    }
    yield `${tableCsvLine(row, columns)}\n`;
  }
}
