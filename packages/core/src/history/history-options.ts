import type pg from 'pg';
import { quoteIdentifier } from '../schema/identifiers.js';
import type { HistoryInputProblem } from './history-input-error.js';
import { HistoryInputError } from './history-input-error.js';
import type { RowKeyInput } from './history-types.js';
import { rowKeyJson } from './row-key-input.js';

/**
 * Checks that `options` is an object with only the `known` keys, naming `what` (the function) in the error: a
 * misspelt option must not silently read another row or time.
 */
export function checkOptions(what: string, options: unknown, known: readonly string[]): Record<string, unknown> {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new HistoryInputError(`auditrum: ${what}() takes an options object ({ ${known.join(', ')} })`, {
      problem: 'options',
    });
  }
  const unknown = Object.keys(options).filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new HistoryInputError(
      `auditrum: unknown option ${unknown.map((name) => `"${name}"`).join(', ')} of ${what}() (known: ${known.join(', ')})`,
      { problem: 'options' },
    );
  }
  return options as Record<string, unknown>;
}

/** A table's name as a user gives it (`schema.table`, or found on the search_path; quote mixed case as in SQL). */
export function tableOption(what: string, table: unknown): string {
  if (typeof table !== 'string' || table.trim() === '') {
    throw new HistoryInputError(
      `auditrum: ${what}() needs the table's name (option "table"), such as "public.orders"`,
      {
        problem: 'table',
      },
    );
  }
  return table;
}

/** A row's key (option `key`), checked, as JSON for `auditrum.row_key`. */
export function keyOption(what: string, key: unknown): string {
  if (key === undefined) {
    throw new HistoryInputError(`auditrum: ${what}() needs the row's key (option "key")`, { problem: 'key' });
  }
  return checked(() => rowKeyJson(key as RowKeyInput), 'key');
}

/** A column's name as it is today (option `field`). */
export function fieldOption(what: string, field: unknown): string {
  if (typeof field !== 'string' || field === '') {
    throw new HistoryInputError(`auditrum: ${what}() needs the column's name (option "field")`, { problem: 'field' });
  }
  return field;
}

// PostgreSQL's own words for a table that cannot be found say "relation"; ours name the table as given. (A schema
// that does not exist is 3F000 before PostgreSQL 16, 42P01 since.)
const TABLE_ERRORS: Record<string, string> = {
  '42P01': 'does not exist',
  '3F000': 'does not exist',
  '42602': 'is not a valid table name',
};

// What the history functions raise for bad input: invalid_parameter_value (an untracked table, a key of the wrong
// shape, a time that is not finite) and undefined_column (an unknown field).
const INPUT_ERRORS = new Set(['22023', '42703']);

function problemOf(code: string, message: string): HistoryInputProblem | undefined {
  if (code === '42703') return 'field';
  if (/is not tracked|give the table/.test(message)) return 'table';
  if (/finite time/.test(message)) return undefined;
  return 'key';
}

/** Runs a history query, turning "no such table" into an error that names the table as the user wrote it. */
export async function historyQuery<R extends pg.QueryResultRow>(
  db: Pick<pg.ClientBase, 'query'>,
  table: string,
  sql: string,
  params: unknown[],
): Promise<pg.QueryResult<R>> {
  try {
    return await db.query<R>(sql, params);
  } catch (error) {
    throw tableError(error, table);
  }
}

/** A database error caused by the input, as a HistoryInputError (other errors as they are). */
export function tableError(error: unknown, table: string): unknown {
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code !== 'string') return error;
  const problem = TABLE_ERRORS[code];
  if (problem) {
    return new HistoryInputError(`auditrum: table ${JSON.stringify(table)} ${problem}`, {
      cause: error,
      problem: 'table',
    });
  }
  if (INPUT_ERRORS.has(code) && typeof message === 'string') {
    const about = problemOf(code, message);
    return new HistoryInputError(message, { cause: error, ...(about === undefined ? {} : { problem: about }) });
  }
  return error;
}

/** Runs a check of the input (a key, a time), reporting what it refuses as a HistoryInputError about `problem`. */
export function checked<T>(check: () => T, problem?: HistoryInputProblem): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof HistoryInputError) throw error;
    throw new HistoryInputError((error as Error).message, problem === undefined ? {} : { problem });
  }
}

/**
 * Today's columns of a tracked table, in their order: the names and order history is returned in. An unknown or
 * untracked table is refused here, before any history is read.
 */
export async function trackedColumns(
  db: Pick<pg.ClientBase, 'query'>,
  schema: string,
  table: string,
): Promise<string[]> {
  const s = quoteIdentifier(schema);
  const { rows } = await historyQuery<{ columns: string[] }>(
    db,
    table,
    `SELECT ${s}._history_columns(${s}._history_table($1::regclass)) AS columns`,
    [table],
  );
  return rows[0]?.columns ?? [];
}

/** `values` with its keys in the table's column order (jsonb keeps keys sorted by length). */
export function inColumnOrder(values: Record<string, unknown>, columns: readonly string[]): Record<string, unknown> {
  const ordered: Record<string, unknown> = {};
  for (const column of columns) if (column in values) ordered[column] = values[column];
  return ordered;
}
