import pg from 'pg';
import type { Queryable } from '../db/queryable.js';
import { isPool } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import { copyOutRows } from './copy-out-rows.js';
import { checked, checkOptions, tableError, tableOption, trackedColumns } from './history-options.js';
import type { RebuiltFrom, TableRowState } from './history-types.js';
import type { InstantInput } from './instant.js';
import { parseInstant } from './instant.js';
import { toRowState } from './row-as-of.js';

export interface TableAsOfOptions {
  /** The table (`schema.table`, or found on the search_path). */
  table: string;
  /** The time: a Date, or an ISO 8601 string with a zone (`Z` or an offset). */
  at: InstantInput;
}

/** A table as of a time: its rows, streamed, and today's column names in order (for a CSV header, say). */
export interface TableAsOf extends AsyncIterable<TableRowState> {
  readonly columns: readonly string[];
}

/**
 * Every row of `table` that existed at `at`, as `rowAsOf` gives it, streamed with COPY: one statement in
 * autocommit (no transaction is opened or needed), read as fast as the consumer iterates, so memory stays flat for
 * any size of table. Rows come in no particular order. On a pool, a connection is taken for the iteration and
 * given back at its end (discarded if the iteration stops early, which ends the COPY); on a client the iteration
 * must run alone, and an early stop reads the rest of the COPY to keep the client usable.
 */
export async function tableAsOf(db: Queryable, schema: string, options: TableAsOfOptions): Promise<TableAsOf> {
  const given = checkOptions('tableAsOf', options, ['table', 'at']);
  const table = tableOption('tableAsOf', given.table);
  const at = checked(() => parseInstant(given.at as InstantInput, 'time "at"'));
  const columns = await trackedColumns(db, schema, table);
  // COPY takes no parameters: the two values are quoted literals (the time is checked above, the name is cast).
  const sql = `COPY (SELECT row_key, "values", unknown, last_change_id, to_json(last_changed_at) #>> '{}', rebuilt_from
    FROM ${quoteIdentifier(schema)}.table_as_of(${pg.escapeLiteral(table)}::regclass, ${pg.escapeLiteral(at)}::timestamptz)) TO STDOUT`;
  return {
    columns,
    [Symbol.asyncIterator]: () => streamRows(db, table, sql, columns),
  };
}

async function* streamRows(
  db: Queryable,
  table: string,
  sql: string,
  columns: readonly string[],
): AsyncGenerator<TableRowState> {
  const client = isPool(db) ? await db.connect() : db;
  // A checked-out client has no 'error' listener: a connection broken mid-COPY would otherwise end the process.
  // The COPY stream reports the failure.
  const ignore = () => undefined;
  client.on('error', ignore);
  const rows = copyOutRows(client, sql, { drain: !isPool(db) });
  let finished = false;
  try {
    for await (const [rowKey, values, unknown, lastChangeId, lastChangedAt, rebuiltFrom] of rows) {
      yield toRowState(
        {
          row_key: rowKey ?? '',
          values: JSON.parse(values ?? '{}'),
          unknown: JSON.parse(unknown ?? '[]'),
          last_change_id: lastChangeId ?? null,
          last_changed_at: lastChangedAt ? new Date(lastChangedAt) : null,
          rebuilt_from: (rebuiltFrom ?? 'none') as RebuiltFrom,
        },
        columns,
      );
    }
    finished = true;
  } catch (error) {
    throw tableError(error, table);
  } finally {
    client.off('error', ignore);
    // Stopped early or failed on a pool: the connection may be mid-COPY; it is discarded, not reused. (On the
    // caller's client, stopping early has read the rest of the COPY: see copyOutRows.)
    if (isPool(db))
      (client as pg.PoolClient).release(finished ? undefined : new Error('auditrum: table as of stopped'));
  }
}
