import pg from 'pg';
import type { Queryable } from '../db/queryable.js';
import { checkOut, ignoreConnectionError, isPool } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import { copyOutRowBatches } from './copy-out-rows.js';
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
 * Every row of `table` that existed at `at`, as `rowAsOf` gives it, streamed with COPY, read as fast as the consumer
 * iterates, so memory stays flat for any size of table. Rows come in no particular order. On a pool, a connection
 * is taken for the iteration: the query is read and streamed in one read-only REPEATABLE READ transaction of its own
 * (both see the same log; the server sends the first rows while it still makes the last), and the connection goes
 * back at the end (discarded if the iteration stops early, which ends the COPY). On the caller's client nothing is
 * opened: one `COPY` of `table_as_of()` in whatever the client is in (autocommit or the caller's transaction); the
 * iteration must run alone, and an early stop reads the rest of the COPY to keep the client usable.
 */
export function tableAsOf(db: Queryable, schema: string, options: TableAsOfOptions): Promise<TableAsOf> {
  return readTableAsOf(db, schema, options, { drain: true });
}

/**
 * tableAsOf on `client`, for a caller that discards the client when the iteration stops early (the admin's export,
 * in a transaction of its own): the COPY is then cut off where it is, not read to its end (the rest of the whole
 * table's rebuild, read and dropped before the connection could go).
 */
export function tableAsOfToDiscard(
  client: pg.ClientBase,
  schema: string,
  options: TableAsOfOptions,
): Promise<TableAsOf> {
  return readTableAsOf(client, schema, options, { drain: false });
}

async function readTableAsOf(
  db: Queryable,
  schema: string,
  options: TableAsOfOptions,
  { drain }: { drain: boolean },
): Promise<TableAsOf> {
  const given = checkOptions('tableAsOf', options, ['table', 'at']);
  const table = tableOption('tableAsOf', given.table);
  const at = checked(() => parseInstant(given.at as InstantInput, 'time "at"'));
  const columns = await trackedColumns(db, schema, table);
  const stream = isPool(db) ? streamOnPool(db, schema, table, at) : streamOnClient(db, schema, table, at, drain);
  return {
    columns,
    [Symbol.asyncIterator]: () => rowStates(stream(), table, columns),
  };
}

// The columns every stream reads, from table_as_of() or from its query, the time as its JSON string (ISO text in
// quotes, which rowStates drops: `#>> '{}'` would parse that JSON again on the server, 0.2 s of CPU a million rows).
const COLUMNS = `row_key, "exists", "values", unknown, last_change_id, to_json(last_changed_at), rebuilt_from`;

function streamOnClient(client: pg.ClientBase, schema: string, table: string, at: string, drain: boolean) {
  // COPY takes no parameters: the two values are quoted literals (the time is checked, the name is cast).
  const sql = `COPY (SELECT ${COLUMNS} FROM ${quoteIdentifier(schema)}.table_as_of(${pg.escapeLiteral(table)}::regclass,
    ${pg.escapeLiteral(at)}::timestamptz)) TO STDOUT`;
  return async function* (): AsyncGenerator<(string | null)[][]> {
    // A client that breaks mid-COPY must not end the process with an unhandled 'error' event: the stream reports it.
    client.on('error', ignoreConnectionError);
    try {
      yield* copyOutRowBatches(client, sql, { drain });
    } finally {
      client.off('error', ignoreConnectionError);
    }
  };
}

function streamOnPool(pool: pg.Pool, schema: string, table: string, at: string) {
  return async function* (): AsyncGenerator<(string | null)[][]> {
    const client = await checkOut(pool);
    let finished = false;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      // The query, backward from the live table when the table's history allows; reading it also sets, for this
      // transaction, the memory and plan settings it needs.
      const { rows } = await client.query<{ sql: string }>(
        `SELECT ${quoteIdentifier(schema)}._history_table_sql($1::regclass, $2::timestamptz) AS sql`,
        [table, at],
      );
      yield* copyOutRowBatches(client, `COPY (SELECT ${COLUMNS} FROM (${rows[0]?.sql}) s) TO STDOUT`, {
        drain: false,
      });
      await client.query('COMMIT');
      finished = true;
    } finally {
      client.off('error', ignoreConnectionError);
      // Stopped early or failed: the connection may be mid-COPY or in a failed transaction; it is discarded.
      client.release(finished ? undefined : new Error('auditrum: table as of stopped'));
    }
  };
}

async function* rowStates(
  batches: AsyncGenerator<(string | null)[][]>,
  table: string,
  columns: readonly string[],
): AsyncGenerator<TableRowState> {
  try {
    for await (const batch of batches) {
      for (const [rowKey, exists, values, unknown, lastChangeId, lastChangedAt, rebuiltFrom] of batch) {
        // Only rows that existed or may have are listed: `exists` is t or NULL.
        const state = toRowState(
          {
            row_key: rowKey ?? '',
            values: JSON.parse(values ?? '{}'),
            unknown: unknown === '[]' || unknown == null ? [] : JSON.parse(unknown),
            last_change_id: lastChangeId ?? null,
            last_changed_at: lastChangedAt ? new Date(lastChangedAt.slice(1, -1)) : null,
            rebuilt_from: (rebuiltFrom ?? 'none') as RebuiltFrom,
          },
          columns,
        );
        yield { exists: exists === 't' ? true : null, ...state };
      }
    }
  } catch (error) {
    throw tableError(error, table);
  }
}
