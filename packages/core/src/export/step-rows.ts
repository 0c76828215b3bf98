import pg from 'pg';
import { copyOutRows } from '../history/copy-out-rows.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import type { ExportCursor, ExportLog } from './export-cursor.js';
import type { ChangeExportRecord, ExportRecord, RequestExportRecord } from './export-record.js';

const UTC_TIME = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** Per log: its table, its time column, the columns read and how a row of them becomes a record. */
const LOG_QUERIES: Record<
  ExportLog,
  { table: string; time: string; columns: string; toRecord(f: (string | null)[], position: string): ExportRecord }
> = {
  changes: {
    table: 'changes',
    time: 'changed_at',
    columns: `x.id, ${UTC_TIME('x.changed_at')}, x.txid, t.schema_name, t.table_name, x.table_id, x.operation, x.row_key,
      x.old_values, x.new_values, x.actor_id, x.request_id, x.context`,
    toRecord: (f, position): ChangeExportRecord => ({
      position,
      log: 'changes',
      id: f[0] as string,
      time: f[1] as string,
      txid: f[2] as string,
      schema: f[3] ?? null,
      table: f[4] ?? null,
      table_id: Number(f[5]),
      operation: f[6] as ChangeExportRecord['operation'],
      row_key: f[7] ?? null,
      old_values: json(f[8]) as ChangeExportRecord['old_values'],
      new_values: json(f[9]) as ChangeExportRecord['new_values'],
      actor_id: f[10] ?? null,
      request_id: f[11] ?? null,
      context: json(f[12]) as ChangeExportRecord['context'],
    }),
  },
  requests: {
    table: 'api_requests',
    time: 'requested_at',
    columns: `x.id, ${UTC_TIME('x.requested_at')}, x.txid, x.request_id, x.method, x.path, x.route, x.query, x.status,
      x.duration_ms, x.aborted, x.actor_id, x.actor_label, x.ip, x.user_agent, x.request_headers, x.response_headers,
      x.request_body, x.response_body, x.error`,
    toRecord: (f, position): RequestExportRecord => ({
      position,
      log: 'requests',
      id: f[0] as string,
      time: f[1] as string,
      txid: f[2] ?? null,
      request_id: f[3] as string,
      method: f[4] as string,
      path: f[5] as string,
      route: f[6] ?? null,
      query: json(f[7]),
      status: f[8] === null ? null : Number(f[8]),
      duration_ms: Number(f[9]),
      aborted: f[10] === 't',
      actor_id: f[11] ?? null,
      actor_label: f[12] ?? null,
      ip: f[13] ?? null,
      user_agent: f[14] ?? null,
      request_headers: json(f[15]),
      response_headers: json(f[16]),
      request_body: json(f[17]),
      response_body: json(f[18]),
      error: f[19] ?? null,
    }),
  },
};

function json(text: string | null | undefined): unknown {
  return text === null || text === undefined ? null : JSON.parse(text);
}

/**
 * The step's rows, log after log in the cursor's order, each by id, as records numbered from 0: the rows whose
 * transaction ids are in [from, to) (an API-log row from before schema 14 has none and counts as 0) with ids in
 * (floor, after], at or after `since`. Streamed with COPY (flat memory for any backlog), the first `skip` dropped.
 * On a client of its own: a consumer that stops early leaves it mid-COPY, for the caller to discard.
 */
export async function* stepRecords(
  client: pg.ClientBase,
  schema: string,
  cursor: ExportCursor,
  skip: number,
): AsyncGenerator<ExportRecord> {
  let index = 0;
  for (const log of cursor.logs) {
    const query = LOG_QUERIES[log];
    const s = quoteIdentifier(schema);
    const txid = log === 'requests' ? 'coalesce(x.txid, 0)' : 'x.txid';
    // COPY takes no parameters: the bounds are checked bigints and the time a quoted literal.
    const since = cursor.since === null ? '' : `AND x.${query.time} >= ${pg.escapeLiteral(cursor.since)}::timestamptz`;
    const join = log === 'changes' ? `LEFT JOIN ${s}.tracked_tables t ON t.id = x.table_id` : '';
    const sql = `COPY (SELECT ${query.columns} FROM ${s}.${query.table} x ${join}
      WHERE x.id > ${cursor.floor[log]} AND x.id <= ${cursor.after[log]}
        AND ${txid} >= ${cursor.from} AND ${txid} < ${cursor.to} ${since}
      ORDER BY x.id) TO STDOUT`;
    for await (const fields of copyOutRows(client, sql, { drain: false })) {
      if (index >= skip) yield query.toRecord(fields, `${cursor.step}:${index}`);
      index += 1;
    }
  }
}
