import pg from 'pg';
import type { ChangeOperation } from '../changes/change-row.js';
import { transactionNameSql } from '../changes/transaction-name.js';
import { copyOutRows } from '../history/copy-out-rows.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import type { RestoreBoundary } from '../schema/restore-boundary.js';
import { CopiedChange, CopiedRequest } from './copied-records.js';
import type { ExportCursor, ExportLog } from './export-cursor.js';
import type { ExportRecord } from './export-record.js';

const UTC_TIME = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** Per log: its table, its time column, the columns read and how a row of them becomes a record. */
const LOG_QUERIES: Record<
  ExportLog,
  {
    table: string;
    time: string;
    columns(s: string): string;
    toRecord(f: (string | null)[], position: string): ExportRecord;
  }
> = {
  // The transaction by its name, as the admin shows it (`txid@n` for a restored one: transaction-name.ts).
  changes: {
    table: 'changes',
    time: 'changed_at',
    columns: (
      s,
    ) => `x.id, ${UTC_TIME('x.changed_at')}, ${transactionNameSql(s, 'x')}, t.schema_name, t.table_name, x.table_id, x.operation, x.row_key,
      x.old_values, x.new_values, x.actor_id, x.request_id, x.context`,
    toRecord: (f, position) =>
      new CopiedChange(
        position,
        f[0] as string,
        f[1] as string,
        f[2] as string,
        f[3] ?? null,
        f[4] ?? null,
        Number(f[5]),
        f[6] as ChangeOperation,
        f[7] ?? null,
        [f[8] ?? null, f[9] ?? null, f[12] ?? null],
        f[10] ?? null,
        f[11] ?? null,
      ),
  },
  requests: {
    table: 'api_requests',
    time: 'requested_at',
    columns: (
      s,
    ) => `x.id, ${UTC_TIME('x.requested_at')}, ${transactionNameSql(s, 'x', 'api_requests')}, x.request_id, x.method, x.path, x.route, x.query, x.status,
      x.duration_ms, x.aborted, x.actor_id, x.actor_label, x.ip, x.user_agent, x.request_headers, x.response_headers,
      x.request_body, x.response_body, x.error`,
    toRecord: (f, position) =>
      new CopiedRequest(
        position,
        f[0] as string,
        f[1] as string,
        f[2] ?? null,
        f[3] as string,
        f[4] as string,
        f[5] as string,
        f[6] ?? null,
        f[8] === null ? null : Number(f[8]),
        Number(f[9]),
        f[10] === 't',
        f[11] ?? null,
        f[12] ?? null,
        f[13] ?? null,
        f[14] ?? null,
        f[19] ?? null,
        [f[7] ?? null, f[15] ?? null, f[16] ?? null, f[17] ?? null, f[18] ?? null],
      ),
  },
};

/**
 * The step's rows, log after log in the cursor's order, each by id, as records numbered from 0: the rows whose
 * transaction ids are in [from, to) (an API-log row from before schema 14 has none and counts as 0) with ids in
 * (floor, after], at or after `since`; and in the step whose range holds the latest restore boundary's transaction,
 * every row up to the boundary (`restore`: restored rows were all committed by then, their txids of another
 * cluster's count; in no other step). Streamed with COPY (flat memory for any backlog), from the row after the
 * cursor's `last` (numbered from `delivered`): a resumed step reads only what is left. On a client of its own: a
 * consumer that stops early leaves it mid-COPY, for the caller to discard.
 */
export async function* stepRecords(
  client: pg.ClientBase,
  schema: string,
  cursor: ExportCursor,
  restore: RestoreBoundary,
): AsyncGenerator<ExportRecord> {
  let index = cursor.delivered;
  const { last } = cursor;
  const logs = last === null ? cursor.logs : cursor.logs.slice(cursor.logs.indexOf(last.log));
  for (const log of logs) {
    const query = LOG_QUERIES[log];
    const s = quoteIdentifier(schema);
    const txid = log === 'requests' ? 'coalesce(x.txid, 0)' : 'x.txid';
    // COPY takes no parameters: the bounds are checked bigints and the time a quoted literal.
    const since = cursor.since === null ? '' : `AND x.${query.time} >= ${pg.escapeLiteral(cursor.since)}::timestamptz`;
    const join = log === 'changes' ? `LEFT JOIN ${s}.tracked_tables t ON t.id = x.table_id` : '';
    const restored = log === 'changes' ? restore.changesUpTo : restore.requestsUpTo;
    const restoredHere =
      restored !== '0' && BigInt(cursor.from) <= BigInt(restore.xid) && BigInt(restore.xid) < BigInt(cursor.to);
    // The floor bounds the rows written since the boundary; the restored rows are all below it.
    const floor = BigInt(cursor.floor[log]) > BigInt(restored) ? cursor.floor[log] : restored;
    const lower = last?.log === log ? last.id : restoredHere ? '0' : floor;
    const inRange = `${txid} >= ${cursor.from} AND ${txid} < ${cursor.to}`;
    const sql = `COPY (SELECT ${query.columns(s)} FROM ${s}.${query.table} x ${join}
      WHERE x.id > ${lower} AND x.id <= ${cursor.after[log]}
        AND ${restoredHere ? `(x.id <= ${restored} OR ${inRange})` : `x.id > ${restored} AND ${inRange}`} ${since}
      ORDER BY x.id) TO STDOUT`;
    for await (const fields of copyOutRows(client, sql, { drain: false })) {
      yield query.toRecord(fields, `${cursor.step}:${index}`);
      index += 1;
    }
  }
}
