import type pg from 'pg';
import type { Queryable } from '../db/queryable.js';
import { quoteIdentifier } from './identifiers.js';

/**
 * A restore boundary (`restore_boundaries`, migration 32): the log's ids when `migrate` found the database restored
 * from a dump. Every row up to them was committed before the boundary's transaction ended, and those written since
 * carry this cluster's transaction ids. Restored into another cluster, the log's older rows carry another cluster's
 * ids, which this cluster counts afresh: the readers that go by transaction ids (export, seal, verify, a
 * transaction's page and undo) take them as settled rows, not by their txid. See docs/cli.md, `migrate`.
 */
export interface RestoreBoundary {
  /** The boundary's id: a transaction written after it and before the next is named `txid@id` (transaction-name.ts). */
  id: number;
  /** Change ids up to this one were restored. */
  changesUpTo: string;
  /** API-request ids up to this one were restored. */
  requestsUpTo: string;
  /** The transaction that recorded it, in this cluster's count. */
  xid: string;
}

const NO_RESTORE: RestoreBoundary = { id: 0, changesUpTo: '0', requestsUpTo: '0', xid: '0' };

/**
 * Records a restore boundary, in migrate's transaction (as the schema's owner): first waits for the log's writers in
 * flight (a SHARE lock on both logs, held to the end of migrate), so that every id drawn by then is of a transaction
 * that has ended. The caller has found a restore: the registry rebound, or the log elsewhere than its latest boundary
 * says (`restorePending`).
 */
export async function recordRestoreBoundary(client: pg.ClientBase, schema: string): Promise<RestoreBoundary> {
  const s = quoteIdentifier(schema);
  await client.query(`LOCK TABLE ${s}.changes, ${s}.api_requests IN SHARE MODE`);
  const sequence = (table: string) =>
    `(SELECT CASE WHEN q.is_called THEN q.last_value ELSE 0 END FROM ${s}.${quoteIdentifier(`${table}_id_seq`)} q)`;
  const { rows } = await client.query<RestoreBoundary>(
    `INSERT INTO ${s}.restore_boundaries (system_identifier, database_oid, changes_upto, requests_upto, xid, seals_upto)
     SELECT i.system_identifier, i.database_oid, ${sequence('changes')}, ${sequence('api_requests')},
       pg_current_xact_id()::text::bigint, coalesce((SELECT max(x.id) FROM ${s}.seals x), 0)
     FROM ${s}._database_identity() i
     RETURNING id, changes_upto::text AS "changesUpTo", requests_upto::text AS "requestsUpTo", xid::text AS xid`,
  );
  return rows[0] as RestoreBoundary;
}

/**
 * Marks the log as of this cluster when its transaction count goes on from the log's (pg_upgrade; no row carries a
 * transaction id this cluster has not reached): true then, false when a boundary is needed (`_adopt_continued_cluster()`,
 * migration 32, which any role may run). Reads both logs whole, once after such a move.
 */
export async function adoptContinuedCluster(client: pg.ClientBase, schema: string): Promise<boolean> {
  const { rows } = await client.query<{ adopted: boolean }>(
    `SELECT ${quoteIdentifier(schema)}._adopt_continued_cluster() AS adopted`,
  );
  return rows[0]?.adopted === true;
}

/** Why the latest restore's boundary is missing (`_restore_pending()`, migration 32), or null. */
export async function restorePending(db: Queryable, schemaSql: string): Promise<string | null> {
  const { rows } = await db.query<{ pending: string | null }>(`SELECT ${schemaSql}._restore_pending() AS pending`);
  return rows[0]?.pending ?? null;
}

/** The latest restore boundary: one with ids 0 when the log was never restored. */
export async function latestRestore(db: Queryable, schemaSql: string): Promise<RestoreBoundary> {
  const { rows } = await db.query<RestoreBoundary>(
    `SELECT id, changes_upto::text AS "changesUpTo", requests_upto::text AS "requestsUpTo", xid::text AS xid
     FROM ${schemaSql}.restore_boundaries ORDER BY id DESC LIMIT 1`,
  );
  return rows[0] ?? NO_RESTORE;
}

/** Thrown by a reader that goes by transaction ids on a restored log whose boundary is not recorded yet. */
export class RestorePendingError extends Error {
  override name = 'RestorePendingError';
}

/** Refuses (RestorePendingError, naming `reader`) while a restore's boundary is not recorded. */
export async function assertNoRestorePending(db: Queryable, schemaSql: string, reader: string): Promise<void> {
  const pending = await restorePending(db, schemaSql);
  if (pending !== null) throw new RestorePendingError(`auditrum: ${reader}: ${pending}`);
}
