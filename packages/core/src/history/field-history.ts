import type { Queryable } from '../db/queryable.js';
import { quoteIdentifier } from '../schema/identifiers.js';
import { HistoryInputError } from './history-input-error.js';
import { checked, checkOptions, fieldOption, historyQuery, keyOption, tableOption } from './history-options.js';
import type { FieldHistoryEntry, RowKeyInput, UnknownReason } from './history-types.js';
import type { InstantInput } from './instant.js';
import { parseInstant } from './instant.js';
import { keyPseudonymVersions } from './key-pseudonym-versions.js';

export interface FieldHistoryOptions {
  /** The table (`schema.table`, or found on the search_path). */
  table: string;
  /** The row's key: its value, the values in key order, or an object by key column name. */
  key: RowKeyInput;
  /** The column's name today; a renamed column's history is found under its new name. */
  field: string;
  /** Only the values recorded at or before this time (a Date, or an ISO 8601 string with a zone). */
  at?: InstantInput;
  /** Only the values of changes with a smaller id (a change id, as `changeId` gives it): the page before it. */
  before?: string;
  /** Only the newest this many (a whole number from 1): a page, still oldest first. */
  limit?: number;
}

const CHANGE_ID = /^[1-9]\d{0,18}$/;
const BIGINT_MAX = 9223372036854775807n;

interface FieldHistoryRow {
  change_id: string;
  changed_at: Date;
  operation: FieldHistoryEntry['operation'];
  row_key: string;
  value: unknown;
  old_value: unknown;
  unknown_reason: UnknownReason | null;
  actor_id: string | null;
  request_id: string | null;
  reason: string | null;
}

/**
 * Every recorded value of one field of a row, oldest first: the INSERT, each UPDATE that changed it, the DELETE.
 * A row whose key changed keeps its history from before, under the old key. With `at`, only what was recorded
 * at or before that time; with `before` and `limit`, a page: the newest `limit` values of the changes below `before`.
 */
export async function fieldHistory(
  db: Queryable,
  schema: string,
  options: FieldHistoryOptions,
): Promise<FieldHistoryEntry[]> {
  const given = checkOptions('fieldHistory', options, ['table', 'key', 'field', 'at', 'before', 'limit']);
  const table = tableOption('fieldHistory', given.table);
  const key = keyOption('fieldHistory', given.key);
  const field = fieldOption('fieldHistory', given.field);
  const at = given.at === undefined ? null : checked(() => parseInstant(given.at as InstantInput, 'time "at"'));
  const before = given.before === undefined ? null : beforeOption(given.before);
  const limit = given.limit === undefined ? null : limitOption(given.limit);
  const { rows } = await historyQuery<FieldHistoryRow>(
    db,
    table,
    `SELECT * FROM ${quoteIdentifier(schema)}.field_history($1::regclass, $2::jsonb, $3, $4::timestamptz, $5::bigint,
       $6::integer)`,
    [table, key, field, at, before, limit],
  );
  // Never the versions an erasure gave a key pseudonym that reads as one of the row's keys: another row's.
  const pseudonymVersions = await keyPseudonymVersions(
    db,
    quoteIdentifier(schema),
    rows.map((row) => row.row_key),
  );
  return rows
    .filter((row) => !pseudonymVersions.has(row.change_id))
    .map((row) => ({
      changeId: row.change_id,
      changedAt: row.changed_at,
      operation: row.operation,
      value: row.value ?? null,
      oldValue: row.old_value ?? null,
      unknown: row.unknown_reason,
      rowKey: row.row_key,
      actorId: row.actor_id,
      requestId: row.request_id,
      reason: row.reason,
    }));
}

function beforeOption(before: unknown): string {
  if (typeof before !== 'string' || !CHANGE_ID.test(before) || BigInt(before) > BIGINT_MAX) {
    throw new HistoryInputError('auditrum: fieldHistory() option "before" must be a change id (digits, from 1)', {
      problem: 'options',
    });
  }
  return before;
}

function limitOption(limit: unknown): number {
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 2 ** 31 - 1) {
    throw new HistoryInputError('auditrum: fieldHistory() option "limit" must be a whole number from 1', {
      problem: 'options',
    });
  }
  return limit;
}
