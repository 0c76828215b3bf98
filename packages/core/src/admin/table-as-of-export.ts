import type pg from 'pg';
import { tableCsvHeader, tableCsvLine } from '../changes/csv.js';
import { cancelStatement } from '../db/cancel-statement.js';
import { checkOut, ignoreConnectionError } from '../db/queryable.js';
import { historyQuery, trackedColumns } from '../history/history-options.js';
import type { TableRowState } from '../history/history-types.js';
import type { RowStateRow } from '../history/row-as-of.js';
import { toRowState } from '../history/row-as-of.js';
import { tableAsOfToDiscard } from '../history/table-as-of.js';
import type { AdminResponse } from './admin-http.js';
import type { ApiContext } from './api-context.js';
import type { ExportFormat, ReadRouteParams, TableRowAsOf } from './api-types.js';
import { requiredInstant } from './as-of-api.js';
import { exportResponse, requiredExportFormat } from './export-response.js';
import { asInput, historyTable, liveTableName } from './history-params.js';
import type { QueryParams } from './query-params.js';
import { MAX_KEY_TEXT } from './query-params.js';
import { departuresSql, pageDepartures } from './table-departures.js';
import { logKeysSql, pageLogKeys } from './table-keys.js';

/**
 * Rows of the first page, in key order: enough to start the download while the whole table's query starts, and few,
 * since the page rebuilds each (50 made the first chunk 10–20 ms slower than the admin's own page a day back).
 */
export const FIRST_PAGE_ROWS = 10;

/**
 * `GET api/table-as-of/export?table&at&key&format=csv|ndjson`: every row that existed at `at` (with `key`, those
 * whose key contains it), streamed as the client reads it: memory does not grow with the table. The first
 * `FIRST_PAGE_ROWS` rows come first, in the order of the table's key (the admin's page, table_as_of_page: it rebuilds
 * only those rows, so the first bytes leave in the time of a page); the others follow in no particular order, from
 * the whole table's rebuild (tableAsOf, COPY), which must read the table's log before its first row (1.2–3.5 s on
 * the bench's 200,000-row table). CSV has today's columns, then `unknown` naming the values that cannot be known
 * (`column:reason`, space separated), so that an empty cell is a NULL and never an unknown value; NDJSON has one
 * `TableRowAsOf` per line. The first row is read before answering, so a failure is still an error status.
 */
export async function exportTableAsOf(
  api: ApiContext,
  params: QueryParams<keyof ReadRouteParams['table-as-of/export']>,
): Promise<AdminResponse> {
  const format = requiredExportFormat(params);
  const table = historyTable(api, params.required('table', 300));
  const at = requiredInstant(params, 'at');
  const contains = params.text('key', MAX_KEY_TEXT);
  const name = await liveTableName(api, table);
  const columns = await asInput(() => trackedColumns(api.pool, api.schema, name));
  const stopped = new AbortController();
  const rows = snapshotRows(api, name, columns, at, contains, stopped.signal);
  const lines = snapshotLines(rows, columns, format, contains)[Symbol.asyncIterator]();
  const first = await asInput(() => lines.next());
  const stamp = at.replace(/[:.]/g, '-');
  const fileName = `${table.schema}.${table.table}`.replace(/[^A-Za-z0-9_.-]/g, '_');
  return exportResponse(format, `${fileName}-as-of-${stamp}`, first, lines, () => stopped.abort());
}

/**
 * The rows as of `at`, read in one REPEATABLE READ, READ ONLY transaction on a connection of their own, so that the
 * first page and the whole table's rebuild see the same log: the rebuild's rows are the page's and the others, and
 * the page's keys (at most FIRST_PAGE_ROWS) are skipped there. A table that fits in the first page is read once.
 * An export stopped during the first page keeps its connection; one stopped in the middle of the COPY discards it.
 * Stopped while a statement runs (the COPY reads the table's log before its first row: seconds on a large table),
 * that statement is cancelled (`stopped`), rather than left to run until its rows come and are read for nothing.
 */
async function* snapshotRows(
  api: ApiContext,
  table: string,
  columns: readonly string[],
  at: string,
  contains: string | undefined,
  stopped: AbortSignal,
): AsyncGenerator<TableRowState> {
  // The summaries are read before the transaction begins: its snapshot sees every row they hold.
  const [summary, logKeys] = await Promise.all([
    pageDepartures(api.tableDepartures, table, at),
    pageLogKeys(api.tableKeys, table, at),
  ]);
  const departures = departuresSql(api.schemaSql, 5, summary);
  const keys = logKeysSql(api.schemaSql, 5 + departures.values.length, logKeys);
  // A connection that breaks mid-export (the server stopped, say) must not end the process with an 'error' event.
  const client = await checkOut(api.pool);
  let state: 'page' | 'copy' | 'done' = 'page';
  const cancel = (): void => cancelStatement(client);
  stopped.addEventListener('abort', cancel, { once: true });
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const page = await historyQuery<RowStateRow & { exists: boolean | null }>(
      client,
      table,
      `SELECT s.row_key, s."exists", s."values", s.unknown, s.last_change_id::text AS last_change_id, s.last_changed_at,
         s.rebuilt_from
       FROM ${api.schemaSql}.table_as_of_page($1::regclass, $2::timestamptz, NULL, $3, $4, NULL, ${departures.sql},
         ${keys.sql}) s`,
      [table, at, contains ?? null, FIRST_PAGE_ROWS, ...departures.values, ...keys.values],
    );
    for (const row of page.rows) yield { exists: row.exists ? true : null, ...toRowState(row, columns) };
    if (page.rows.length === FIRST_PAGE_ROWS) {
      state = 'copy';
      const sent = new Set(page.rows.map((row) => row.row_key));
      for await (const row of await tableAsOfToDiscard(client, api.schema, { table, at })) {
        if (!sent.has(row.rowKey)) yield row;
      }
    }
    await client.query('COMMIT');
    state = 'done';
  } finally {
    stopped.removeEventListener('abort', cancel);
    client.off('error', ignoreConnectionError);
    // A connection a cancel request was sent for is never reused, even when its statement ended first: the request
    // may still come, and end the next user's statement.
    await release(client, stopped.aborted ? 'cancelled' : state);
  }
}

/**
 * Gives the export's connection back: as it is when the export finished; after a ROLLBACK when it stopped during
 * the first page (the connection is idle between queries: kept, with its caches warm for the next export);
 * discarded when it stopped in the middle of the COPY (or was cancelled) or the ROLLBACK failed.
 */
async function release(client: pg.PoolClient, state: 'page' | 'copy' | 'done' | 'cancelled'): Promise<void> {
  const reusable =
    state === 'done' ||
    (state === 'page' &&
      (await client.query('ROLLBACK').then(
        () => true,
        // A broken connection: discarded.
        () => false,
      )));
  client.release(reusable ? undefined : new Error('auditrum: table as of export stopped'));
}

/**
 * The export's lines. A CSV's header leaves with its first row (or alone, for no rows): the route reads the first
 * line before answering, and that line must have read a row, so that a failure there is still an error status.
 */
async function* snapshotLines(
  rows: AsyncIterable<TableRowState>,
  columns: readonly string[],
  format: ExportFormat,
  contains: string | undefined,
): AsyncGenerator<string> {
  let header = format === 'csv' ? `${tableCsvHeader(columns)}\n` : '';
  for await (const row of rows) {
    if (contains !== undefined && !row.rowKey.includes(contains)) continue;
    if (format === 'ndjson') {
      const line: TableRowAsOf = { ...row, lastChangedAt: row.lastChangedAt?.toISOString() ?? null };
      yield `${JSON.stringify(line)}\n`;
      continue;
    }
    yield `${header}${tableCsvLine(row, columns)}\n`;
    header = '';
  }
  if (header !== '') yield header;
}
