import { transactionNameSql } from './transaction-name.js';

/** Operations a change row records: a row's INSERT, UPDATE or DELETE, a table's TRUNCATE, or a DDL event of capture. */
export type ChangeOperation = 'INSERT' | 'UPDATE' | 'DELETE' | 'TRUNCATE' | 'DDL';

/**
 * The select list every change query on `changes c` uses; times as ISO strings with microseconds, bigints as text,
 * the transaction by its name (`txid`, or `txid@n` for a restored one: transaction-name.ts).
 */
export function changeColumns(schemaSql: string): string {
  return `c.id::text AS id,
  to_char(c.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS changed_at,
  ${transactionNameSql(schemaSql, 'c')} AS txid, c.table_id, c.operation, c.row_key, c.old_values, c.new_values,
  c.actor_id, c.request_id, c.context`;
}

export interface ChangeRow {
  id: string;
  changed_at: string;
  /** The transaction's name: its txid, with `@n` when restored from another cluster (transaction-name.ts). */
  txid: string;
  table_id: number;
  operation: ChangeOperation;
  row_key: string | null;
  old_values: Record<string, unknown> | null;
  new_values: Record<string, unknown> | null;
  actor_id: string | null;
  request_id: string | null;
  context: Record<string, unknown> | null;
}
