import type { Queryable } from '../db/queryable.js';

/**
 * A transaction as the readers name it. A log restored into another cluster holds the transaction ids of each
 * cluster it was in, and each counts afresh: one txid may name a restored transaction and one of this cluster. The
 * restore boundaries (restore-boundary.ts) cut the log into stretches, each written in one cluster: a transaction is
 * one txid within one stretch. `txid` names it in the stretch written since the latest boundary (this cluster's),
 * `txid@n` in the stretch written after boundary `n` and before the next (`n` is 1 for the log's first cluster).
 */
export const TRANSACTION_NAME = /^(0|[1-9]\d{0,18})(?:@([1-9]\d{0,9}))?$/;
const BIGINT_MAX = 9223372036854775807n;

/** A transaction's name parsed: its txid and its stretch's boundary (null: the latest). */
export interface TransactionName {
  txid: string;
  boundary: number | null;
}

/** Parses a transaction's name (`txid` or `txid@n`); undefined when it is not one. */
export function parseTransactionName(text: string): TransactionName | undefined {
  const match = TRANSACTION_NAME.exec(text);
  if (match === null || BigInt(match[1] as string) > BIGINT_MAX) return undefined;
  return { txid: match[1] as string, boundary: match[2] === undefined ? null : Number(match[2]) };
}

/**
 * Where a transaction's rows can be: the change ids of its stretch (above `idsAfter`, up to `idsUpTo`; null:
 * unbounded) and the seal runs made in its cluster (ids above `sealsAfter`, up to `sealsUpTo`), whose transaction ids
 * are of the same count.
 */
export interface TransactionStretch {
  txid: string;
  idsAfter: string | null;
  idsUpTo: string | null;
  sealsAfter: string;
  sealsUpTo: string | null;
}

/** The stretch of transaction `name`; undefined when its boundary does not exist. */
export async function transactionStretch(
  db: Queryable,
  schemaSql: string,
  name: TransactionName,
): Promise<TransactionStretch | undefined> {
  const { rows } = await db.query<Omit<TransactionStretch, 'txid'>>(
    `WITH b AS (
       SELECT b.id, b.changes_upto, b.seals_upto, lead(b.changes_upto) OVER w AS next_changes,
         lead(b.seals_upto) OVER w AS next_seals
       FROM ${schemaSql}.restore_boundaries b WINDOW w AS (ORDER BY b.id)
     )
     SELECT nullif(b.changes_upto, 0)::text AS "idsAfter", b.next_changes::text AS "idsUpTo",
       b.seals_upto::text AS "sealsAfter", b.next_seals::text AS "sealsUpTo"
     FROM b WHERE b.id = coalesce($1::int, (SELECT max(x.id) FROM ${schemaSql}.restore_boundaries x))`,
    [name.boundary],
  );
  const row = rows[0];
  return row === undefined ? undefined : { txid: name.txid, ...row };
}

/** Where each log's rows were restored up to, by restore boundary (restore_boundaries' column). */
const RESTORED_UP_TO = { changes: 'changes_upto', api_requests: 'requests_upto' } as const;

/**
 * SQL: the name of the transaction of row `alias` of a log (a change row by default; its txid, with `@n` when the
 * row is of a stretch before the latest boundary). On a log never restored, one read of the boundaries per
 * statement.
 */
export function transactionNameSql(
  schemaSql: string,
  alias: string,
  log: keyof typeof RESTORED_UP_TO = 'changes',
): string {
  const upTo = RESTORED_UP_TO[log];
  return `${alias}.txid::text || CASE
    WHEN ${alias}.id <= (SELECT max(b.${upTo}) FROM ${schemaSql}.restore_boundaries b)
    THEN '@' || (SELECT max(b.id) FROM ${schemaSql}.restore_boundaries b WHERE b.${upTo} < ${alias}.id)
    ELSE '' END`;
}

/**
 * For rows read without transactionNameSql() (a history walk's SQL function): names a row's transaction from its id
 * and txid, the boundaries read once.
 */
export async function transactionNamer(
  db: Queryable,
  schemaSql: string,
): Promise<(id: string, txid: string) => string> {
  const { rows } = await db.query<{ id: number; upto: string }>(
    `SELECT b.id, b.changes_upto::text AS upto FROM ${schemaSql}.restore_boundaries b ORDER BY b.id`,
  );
  const latest = rows.at(-1);
  if (latest === undefined || latest.upto === '0') return (_id, txid) => txid;
  return (id, txid) => {
    if (BigInt(id) > BigInt(latest.upto)) return txid;
    const stretch = rows.findLast((b) => BigInt(b.upto) < BigInt(id));
    return stretch === undefined ? txid : `${txid}@${stretch.id}`;
  };
}
