import { fieldHistory } from '../history/field-history.js';
import { HistoryInputError } from '../history/history-input-error.js';
import { historyQuery, trackedColumns } from '../history/history-options.js';
import type { RowStateRow } from '../history/row-as-of.js';
import { rowAsOf, toRowState } from '../history/row-as-of.js';
import { pseudonymErasures } from './actor-pseudonyms.js';
import type { ApiContext } from './api-context.js';
import type {
  FieldHistoryResponse,
  ReadRouteParams,
  RowAsOfResponse,
  TableAsOfResponse,
  TableRowAsOf,
} from './api-types.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { AdminError, badParameter } from './errors.js';
import { asInput, historyTable, liveTableName, parseRowKey } from './history-params.js';
import type { QueryParams } from './query-params.js';
import { MAX_KEY_TEXT } from './query-params.js';
import { departuresSql, pageDepartures } from './table-departures.js';
import { logKeysSql, pageLogKeys } from './table-keys.js';

/**
 * The routes that read rows as they were: one row at a time, a page of a whole table, one field's recorded values.
 * Times are the admin's (a date means midnight UTC; a date-time needs its zone). A bad key or field is a 400 naming
 * it; a table that is gone a 404.
 */

/** `GET api/row-as-of?table&key&at`: the row as it was at `at` (every change at or before it applied). */
export async function rowAsOfRoute(
  api: ApiContext,
  params: QueryParams<keyof ReadRouteParams['row-as-of']>,
): Promise<RowAsOfResponse> {
  const table = historyTable(api, params.required('table', 300));
  const key = parseRowKey(params.required('key', MAX_KEY_TEXT));
  const at = requiredInstant(params, 'at');
  const state = await asInput(async () =>
    rowAsOf(api.pool, api.schema, { table: await liveTableName(api, table), key, at }),
  );
  return { ...state, lastChangedAt: state.lastChangedAt?.toISOString() ?? null };
}

/**
 * `GET api/field-history?table&key&field&at&limit&cursor`: a page of the field's recorded values, oldest first (with
 * `at`, up to it): the newest `limit`, or those before `cursor` (the previous page's `nextCursor`). One more is read
 * to tell whether older ones remain.
 */
export async function fieldHistoryRoute(
  api: ApiContext,
  params: QueryParams<keyof ReadRouteParams['field-history']>,
): Promise<FieldHistoryResponse> {
  const table = historyTable(api, params.required('table', 300));
  const key = parseRowKey(params.required('key', MAX_KEY_TEXT));
  const field = params.required('field', 63);
  const at = params.instant('at');
  const limit = params.limit();
  const cursor = params.text('cursor', 64);
  const before = cursor === undefined ? undefined : decodeCursor('field-history', cursor);
  const read = await asInput(async () =>
    fieldHistory(api.pool, api.schema, {
      table: await liveTableName(api, table),
      key,
      field,
      ...(at === undefined ? {} : { at }),
      ...(before === undefined ? {} : { before }),
      limit: limit + 1,
    }),
  );
  const entries = read.slice(-limit);
  const first = entries[0];
  const [labels, pseudonyms] = await Promise.all([
    actorLabels(
      api,
      entries.map((entry) => entry.changeId),
    ),
    pseudonymErasures(
      api,
      'changes',
      entries.map((entry) => ({ id: entry.changeId, text: entry.actorId })),
    ),
  ]);
  return {
    nextCursor: first && read.length > limit ? encodeCursor('field-history', first.changeId) : null,
    entries: entries.map((entry) => {
      const erasure = pseudonyms.get(entry.changeId);
      return {
        ...entry,
        changedAt: entry.changedAt.toISOString(),
        actorLabel: labels.get(entry.changeId) ?? null,
        ...(erasure === undefined ? {} : { actorErasure: erasure }),
      };
    }),
  };
}

/** The actor label each change recorded (the admin shows `carol@shop.test`, not the id), by change id. */
async function actorLabels(api: ApiContext, changeIds: readonly string[]): Promise<Map<string, string>> {
  if (changeIds.length === 0) return new Map();
  const { rows } = await api.pool.query<{ id: string; label: string }>(
    `SELECT c.id::text AS id, c.context ->> 'actor_label' AS label FROM ${api.schemaSql}.changes c
     WHERE c.id = ANY ($1::bigint[]) AND c.context ->> 'actor_label' IS NOT NULL`,
    [changeIds],
  );
  return new Map(rows.map((row) => [row.id, row.label]));
}

/** A page cursor of api/table-as-of: the last row key of the page, or the last key a search by key read. */
const CURSOR_PREFIX = 'k:';

/**
 * How many of the live table's keys a page filtered by key reads at most (docs/admin.md): the first page, each later
 * one. Keys that contain a text are found by reading the table in key order, which no index serves; a page that
 * reached its bound before it was full says so (`searchedTo`) and the next one goes on from there.
 */
const KEYS_READ = { first: 10_000, later: 15_000 };

/**
 * `GET api/table-as-of?table&at&key&limit&cursor`: one page of the rows that existed at `at`, in the order of the
 * table's primary key (its columns' types: whole numbers in numeric order, texts as the key's index sorts them),
 * `key` keeping only rows whose key contains that text. Only the page's rows are rebuilt (table_as_of_page, migration
 * 11): the live table's next keys through its primary key, merged with the keys of rows gone since `at` (read from
 * the log after `at`: the ended months' departures index, the admin's summary of the other months, table-departures.ts,
 * and the ids above it), so a page costs the rows gone since `at`, not the whole table (the CLI and `tableAsOf`
 * stream a whole table). With `key`, a page reads the keys up to table_as_of_bound's (migration 27) only.
 */
export async function tableAsOfRoute(
  api: ApiContext,
  params: QueryParams<keyof ReadRouteParams['table-as-of']>,
): Promise<TableAsOfResponse> {
  const table = historyTable(api, params.required('table', 300));
  const at = requiredInstant(params, 'at');
  const contains = params.text('key', MAX_KEY_TEXT);
  const limit = params.limit();
  const cursor = params.text('cursor', MAX_KEY_TEXT);
  const after = cursor === undefined ? null : decodeKeyCursor(cursor);
  const keysRead = contains === undefined ? null : after === null ? KEYS_READ.first : KEYS_READ.later;
  const name = await liveTableName(api, table);
  // On the first page of a search, the row whose key is the text itself, through the primary key (alongside the page,
  // on another connection).
  const exactLookup = contains === undefined || after !== null ? null : exactRow(api, name, contains, at);
  const page = asInput(async () => {
    const [today, summary, logKeys] = await Promise.all([
      trackedColumns(api.pool, api.schema, name),
      pageDepartures(api.tableDepartures, name, at),
      pageLogKeys(api.tableKeys, name, at),
    ]);
    const departures = departuresSql(api.schemaSql, 7, summary);
    const keys = logKeysSql(api.schemaSql, 7 + departures.values.length, logKeys);
    // One row at least (LEFT JOIN): the bound, with the page's rows if any.
    const result = await historyQuery<RowStateRow & { exists: boolean | null; until_key: string | null }>(
      api.pool,
      name,
      `SELECT b.until_key, s.row_key, s."exists", s."values", s.unknown, s.last_change_id::text AS last_change_id,
         s.last_changed_at, s.rebuilt_from
       FROM (SELECT CASE WHEN $6::integer IS NOT NULL
         THEN ${api.schemaSql}.table_as_of_bound($1::regclass, $3, $6) END AS until_key) b
       LEFT JOIN LATERAL ${api.schemaSql}.table_as_of_page($1::regclass, $2::timestamptz, $3, $4, $5, b.until_key,
         ${departures.sql}, ${keys.sql}) s ON true`,
      [name, at, after, contains ?? null, limit + 1, keysRead, ...departures.values, ...keys.values],
    ).catch((error: unknown) => {
      if (error instanceof HistoryInputError && /the cursor/.test(error.message)) throw notACursor();
      throw error;
    });
    return { columns: today, rows: result.rows };
  });
  const [{ columns, rows }, exact] = await Promise.all([page, exactLookup]);
  const found = rows.filter((row) => row.row_key !== null);
  const items = found.slice(0, limit).map((row) => {
    // Listed rows existed (true) or may have (null: perhaps deleted unseen while the table was not tracked).
    const state = { exists: row.exists ? (true as const) : null, ...toRowState(row, columns) };
    return { ...state, lastChangedAt: state.lastChangedAt?.toISOString() ?? null };
  });
  const last = items.at(-1);
  const response = { columns, items, ...(exact === null ? {} : { exact }) };
  if (found.length > limit && last) return { ...response, nextCursor: encodeKeyCursor(last.rowKey) };
  // Not full: the search read every key up to its bound, and goes on after it.
  const searchedTo = rows[0]?.until_key ?? null;
  return searchedTo === null
    ? { ...response, nextCursor: null }
    : { ...response, nextCursor: encodeKeyCursor(searchedTo), searchedTo };
}

/**
 * The row whose key is `text` itself (`4242` on an integer key, `[1, "a"]` on a composite one) as it was at `at`,
 * read through the primary key (row_as_of), so found whatever part of the table a page's search read; null when the
 * text is no key of the table or the row did not exist then.
 */
async function exactRow(api: ApiContext, table: string, text: string, at: string): Promise<TableRowAsOf | null> {
  try {
    const state = await rowAsOf(api.pool, api.schema, { table, key: parseRowKey(text), at });
    if (state.exists === false) return null;
    return { ...state, exists: state.exists, lastChangedAt: state.lastChangedAt?.toISOString() ?? null };
  } catch (error) {
    // Not a key of this table: a text that is not JSON where JSON is needed (AdminError), or of the wrong type.
    if (error instanceof HistoryInputError || error instanceof AdminError) return null;
    throw error;
  }
}

function encodeKeyCursor(rowKey: string): string {
  return Buffer.from(CURSOR_PREFIX + rowKey).toString('base64url');
}

/**
 * A cursor of api/table-as-of: the last row key of the page. A row_key that is not the table's key (a forged
 * cursor) fails its cast in table_as_of_page and is answered as a bad cursor; one with a NUL, which no row_key holds
 * (PostgreSQL text cannot), is refused here, since the server refuses the parameter itself.
 */
function decodeKeyCursor(cursor: string): string {
  const text = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const forged = !text.startsWith(CURSOR_PREFIX) || text.includes('\u0000');
  if (forged || Buffer.from(text).toString('base64url') !== cursor) throw notACursor();
  return text.slice(CURSOR_PREFIX.length);
}

function notACursor(): AdminError {
  return badParameter('cursor', 'not a cursor of this list; pass nextCursor of the previous page as is');
}

export function requiredInstant<Name extends string>(params: QueryParams<Name>, name: Name): string {
  const value = params.instant(name);
  if (value === undefined) throw badParameter(name, 'is required: a time with its zone (2026-03-01T12:00:00Z)');
  return value;
}
