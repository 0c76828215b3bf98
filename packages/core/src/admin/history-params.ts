import type { HistoryInputProblem } from '../history/history-input-error.js';
import { HistoryInputError } from '../history/history-input-error.js';
import type { RowKeyInput } from '../history/history-types.js';
import { rowKeyJson } from '../history/row-key-input.js';
import type { ApiContext } from './api-context.js';
import type { TableRef } from './api-types.js';
import { resolveTable, visibleTables } from './change-filters.js';
import { AdminError, badParameter, notFound } from './errors.js';

/**
 * The parameters the history routes share: a table in the user's scope, a row key, and the live name the history
 * functions are given for the table.
 */

/**
 * A table the request may read history of. A scope narrowed to one actor shows that actor's changes only; a row
 * rebuilt as of a time, a blame or a recycle bin is made of every actor's changes (and the live row), so such a
 * scope cannot use them (403), rather than see other actors' values through them.
 */
export function historyTable(api: ApiContext, name: string, parameter = 'table'): TableRef {
  assertWholeRows(api);
  return resolveTable(name, parameter, visibleTables(api.tables, api.scope));
}

/** 403 under a scope narrowed to one actor (see historyTable). */
export function assertWholeRows(api: ApiContext): void {
  if (api.scope?.actor !== undefined) {
    throw new AdminError(
      'forbidden',
      'your scope shows one actor’s changes only; rows rebuilt from every change (as of a time, blame, deleted rows, restores) are not in it',
    );
  }
}

/**
 * A row key as given in a query string or a JSON body: a JSON array (key values in key order) or object (by key
 * column name) when it starts with `[` or `{` in a query string, otherwise the value itself as text; in a body, any
 * of these as JSON. Each value is read as its key column's type by the database (`7`, `"7"` and `"007"` name the
 * same int key). Checked for shape here; for the table's key columns by the history function.
 */
export function parseRowKey(value: unknown, parameter = 'key'): RowKeyInput {
  let key = value;
  if (typeof value === 'string' && /^\s*[[{]/.test(value)) {
    try {
      key = JSON.parse(value);
    } catch {
      throw badParameter(parameter, 'is not valid JSON: give a value, or a JSON array or object of key values');
    }
  }
  try {
    rowKeyJson(key as RowKeyInput, parameter);
  } catch (error) {
    throw badParameter(parameter, (error as Error).message.replace(/^auditrum: /, ''));
  }
  return key as RowKeyInput;
}

/**
 * The name to give the history functions for a table of the registry: its live relation's name as regclass prints
 * it (quoted, schema-qualified unless on the search path), so they resolve the very table the scope allowed, even
 * when a table of the same name was made since. 404 when the table no longer exists.
 */
export async function liveTableName(api: ApiContext, table: TableRef): Promise<string> {
  const { rows } = await api.pool.query<{ name: string | null }>(
    `SELECT (SELECT c.oid::regclass::text FROM pg_class c WHERE c.oid = t.relid) AS name
     FROM ${api.schemaSql}.tracked_tables t WHERE t.id = $1`,
    [table.id],
  );
  const name = rows[0]?.name;
  if (name === null || name === undefined) {
    throw notFound(`table ${table.schema}.${table.table} no longer exists: its history has no live table to read`);
  }
  return name;
}

/** The parameter a refused history input is about, by its problem; anything else (a key, a time) is the key's. */
const PARAMETER_OF: Partial<Record<HistoryInputProblem, string>> = { table: 'table', field: 'field' };

/**
 * A history function's refusal of the input as a 404 (the row it names has no history) or a 400 naming the
 * parameter it is about; any other error is rethrown.
 */
export async function asInput<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (!(error instanceof HistoryInputError)) throw error;
    const message = error.message.replace(/^auditrum: /, '');
    if (error.problem === 'no_row') throw notFound(message);
    throw badParameter((error.problem && PARAMETER_OF[error.problem]) ?? 'key', message);
  }
}
