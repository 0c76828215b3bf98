import type { Queryable } from '../../db/queryable.js';
import { quoteIdentifier } from '../../schema/identifiers.js';
import type { RowKeyInput } from '../history-types.js';
import { keyPseudonymVersions } from '../key-pseudonym-versions.js';
import { rowKeyJson } from '../row-key-input.js';
import type { LoggedChange } from './logged-change.js';
import { RestoreError } from './restore-error.js';
import type { RestoreTable } from './restore-table.js';
import type { ChangeId } from './restore-types.js';

/** An id as a user may give it: a safe integer or a bigint as decimal text, anything else as it is. */
export function idText(value: unknown): unknown {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return typeof value === 'bigint' ? value.toString() : value;
}

/** A change id as a user gives it (a whole number, as a number, bigint or digits), as decimal text. */
export function changeIdOf(value: unknown, what = 'change id'): ChangeId {
  const text = idText(value);
  if (typeof text !== 'string' || !/^\d{1,19}$/.test(text.trim()) || BigInt(text.trim()) > 9223372036854775807n) {
    throw new RestoreError(
      'invalid',
      `the ${what} ${JSON.stringify(String(value))} is not a change id (a whole number)`,
    );
  }
  return BigInt(text.trim()).toString();
}

/** The row_key capture records for `key` of `table` (auditrum.row_key), or a clear error for a key of the wrong shape. */
export async function recordedRowKey(
  db: Queryable,
  schema: string,
  table: RestoreTable,
  key: RowKeyInput,
): Promise<string> {
  let json: string;
  try {
    json = rowKeyJson(key);
  } catch (error) {
    throw new RestoreError('invalid', (error as Error).message.replace(/^auditrum: /, ''));
  }
  try {
    const { rows } = await db.query<{ key: string }>(
      `SELECT ${quoteIdentifier(schema)}.row_key(t.relid::regclass, $2::jsonb) AS key
       FROM ${quoteIdentifier(schema)}.tracked_tables t WHERE t.id = $1`,
      [table.id, json],
    );
    return rows[0]?.key ?? '';
  } catch (error) {
    // invalid_parameter_value: row_key's own message says what is wrong with the key.
    if ((error as { code?: string }).code !== '22023') throw error;
    throw new RestoreError('invalid', (error as Error).message.replace(/^auditrum: /, ''));
  }
}

/** The row_key of a key given as an object of today's key columns, as a plan computes it (no user input). */
export async function rowKeyOfObject(
  db: Queryable,
  schema: string,
  table: RestoreTable,
  key: Record<string, unknown>,
): Promise<string> {
  const { rows } = await db.query<{ key: string }>(
    `SELECT ${quoteIdentifier(schema)}.row_key(t.relid::regclass, $2::jsonb) AS key
     FROM ${quoteIdentifier(schema)}.tracked_tables t WHERE t.id = $1`,
    [table.id, JSON.stringify(key)],
  );
  return rows[0]?.key ?? '';
}

/** Refuses a change that is not of the row `rowKey` of `table` (nothing is read or written after). */
export function assertChangeOfRow(change: LoggedChange, table: RestoreTable, rowKey: string): void {
  if (change.tableId !== table.id) {
    throw new RestoreError('invalid', `change #${change.id} is not a change of table ${table.name}`);
  }
  if (change.rowKey !== rowKey) {
    throw new RestoreError(
      'invalid',
      `change #${change.id} is a change of row ${change.rowKey ?? '(a TRUNCATE, of no row)'} of ${table.name}, not of row ${rowKey}`,
    );
  }
}

/**
 * Refuses a restore by key (a row to a version, an undelete) of a key whose history in `table` holds another row's
 * versions under an erasure's key pseudonym of the same text (keyPseudonymVersions): the row's states read by key
 * would mix the two rows. Its own changes can still be reverted or undone one by one.
 */
export async function refuseKeyPseudonym(
  db: Queryable,
  schema: string,
  table: RestoreTable,
  rowKey: string,
): Promise<void> {
  const s = quoteIdentifier(schema);
  const versions = await keyPseudonymVersions(db, s, [rowKey], 'refuse');
  if (versions.size === 0) return;
  const { rows } = await db.query(
    `SELECT FROM ${s}.changes c WHERE c.id = ANY ($1::bigint[]) AND c.table_id = $2 LIMIT 1`,
    [[...versions], table.id],
  );
  if (rows.length === 0) return;
  throw new RestoreError(
    'conflict',
    `row ${rowKey} of ${table.name}: an erasure gave another row of the table this key as its pseudonym, and its history is read with this row's by key; revert or undo this row's changes instead`,
  );
}
