import type pg from 'pg';
import type { Queryable } from '../db/queryable.js';
import { quoteIdentifier } from './identifiers.js';
import type { RestoreBoundary } from './restore-boundary.js';

/**
 * A database restored from a dump (pg_dump / pg_restore, into another database or cluster) gets new oids for
 * its tables, and a table that had a column dropped gets its columns numbered again. Auditrum's registry keeps
 * each tracked table's oid (`relid`) and its key, only, exclude and mask columns as numbers, all restored as they
 * were: history then found no table ("not tracked: it has no history"), ALTER TABLE was no longer followed (a new
 * column went unrecorded), tracking the table again split its history under a new id, and regenerating a capture
 * function read another relation's columns, or masked the column that now has a masked one's number.
 *
 * The capture triggers are restored on the right tables, each calling its table's `capture_<id>()`: they say which
 * relation each registry row is. Rebinding sets `relid` from them and the column numbers from the table's rules,
 * which hold the columns' names (kept up to date at every change the registry follows).
 */

/** A tracked table whose registry row names another relation than the one its capture triggers are on. */
export interface RestoredTable {
  /** The registry id (`capture_<id>`). */
  id: number;
  /** The table its capture triggers are on, qualified and quoted. */
  table: string;
}

/**
 * What rebinding did: the tables rebound, those left as they were with the reason, and the application roles no
 * longer trusted (their registry oid names another role here, or none).
 */
export interface Rebinding {
  rebound: RestoredTable[];
  failed: { table: RestoredTable; reason: string }[];
  untrustedRoles: { role: string; reason: string }[];
  /**
   * Restored into another cluster, the rows whose transaction ids this cluster has not reached yet (its own count
   * started lower): null when there are none. The restore boundary that migrate records makes the readers that go by
   * transaction ids take them as settled (see `boundary`).
   */
  aheadOfCluster: TransactionsAhead | null;
  /** The restore boundary that migrate recorded (restore-boundary.ts): null when it found no restore, or could not. */
  boundary: RestoreBoundary | null;
  /** Why a restore was found and its boundary not recorded (an application role's migrate), or null. */
  boundaryRefused: string | null;
  /**
   * True when the log was found in another cluster whose transaction count goes on from the log's (after pg_upgrade):
   * no row carries a transaction id this cluster has not reached, so it was marked as this cluster's, with no boundary
   * to record (`_adopt_continued_cluster()`, migration 32).
   */
  continuedCluster: boolean;
}

/** Log rows whose transaction id is at or past this cluster's next one, up to `upTo`. */
export interface TransactionsAhead {
  changes: number;
  requests: number;
  /** The largest such transaction id. */
  upTo: string;
}

/** A rebinding that found nothing restored (a new object each time: the caller fills it in). */
export function nothingRestored(): Rebinding {
  return {
    rebound: [],
    failed: [],
    untrustedRoles: [],
    aheadOfCluster: null,
    boundary: null,
    boundaryRefused: null,
    continuedCluster: false,
  };
}

/**
 * An oid no relation has, for a registry row while the rows are rebound (relid is unique among tracked tables,
 * and two restored tables may trade oids), and afterwards for an untracked row whose table is gone: so that it
 * never names a relation that a restore gave its old oid (history would read another table as its past).
 */
const PLACEHOLDER_OID = 4294967295;

/** The tracked tables whose registry row is out of step with their capture triggers (none on a database as made). */
export async function restoredTables(db: Queryable, schema: string): Promise<RestoredTable[]> {
  const s = quoteIdentifier(schema);
  const { rows } = await db.query<RestoredTable>(
    `SELECT t.id, min(format('%I.%I', n.nspname, c.relname)) AS "table"
     FROM ${s}.tracked_tables t
     JOIN pg_trigger tg ON tg.tgfoid = to_regprocedure(format('%I.%I()', $1::text, 'capture_' || t.id))
     JOIN pg_class c ON c.oid = tg.tgrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE t.untracked_at IS NULL
     GROUP BY t.id, t.relid
     -- Triggers on one relation, which is not the registered one.
     HAVING count(DISTINCT tg.tgrelid) = 1 AND min(tg.tgrelid) <> t.relid
     ORDER BY t.id`,
    [schema],
  );
  return rows;
}

/**
 * Rebinds the registry of a restored database (`restored`, as restoredTables() found them): the tracked tables to the
 * relations their capture triggers are on and their columns by name, and the untracked ones to the table of their
 * name, or to none. Runs in the caller's transaction, each table in a savepoint: one whose rules name a column it no
 * longer has is left as it was and reported. The capture functions are not regenerated here (`reinstallRebound`).
 */
export async function rebindRestored(
  client: pg.ClientBase,
  schema: string,
  restored: readonly RestoredTable[],
): Promise<Rebinding> {
  const result = nothingRestored();
  const s = quoteIdentifier(schema);
  const ids = restored.map((table) => table.id);
  await client.query(`UPDATE ${s}.tracked_tables SET relid = ($1::bigint - id)::oid WHERE id = ANY ($2)`, [
    PLACEHOLDER_OID,
    ids,
  ]);
  for (const table of restored) {
    await client.query('SAVEPOINT auditrum_rebind');
    try {
      await client.query(
        `UPDATE ${s}.tracked_tables t SET relid = c.oid, schema_name = n.nspname, table_name = c.relname,
           key_attnums = ${s}._attnums(c.oid::regclass, t.rules -> 'key', 'key'),
           only_attnums = ${s}._attnums(c.oid::regclass, t.rules -> 'only', 'only'),
           exclude_attnums = coalesce(${s}._attnums(c.oid::regclass, t.rules -> 'exclude', 'exclude'), '{}'),
           mask_attnums = coalesce(${s}._attnums(c.oid::regclass, t.rules -> 'mask', 'mask'), '{}')
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE t.id = $1 AND c.oid = $2::regclass`,
        [table.id, table.table],
      );
      await client.query('RELEASE SAVEPOINT auditrum_rebind');
      result.rebound.push(table);
    } catch (error) {
      await client.query('ROLLBACK TO SAVEPOINT auditrum_rebind');
      result.failed.push({ table, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  // The untracked rows: their tables have new oids too (or are gone, their old oid perhaps another relation's now).
  // The table of the registered name, unless the log recorded that table dropped (a later one of that name is
  // another table, as track() holds); otherwise no relation.
  await client.query(
    `UPDATE ${s}.tracked_tables t
     SET relid = coalesce(
       (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = t.schema_name AND c.relname = t.table_name AND c.relkind IN ('r', 'p')
          AND NOT EXISTS (SELECT FROM ${s}.changes d WHERE d.table_id = t.id AND d.row_key IS NULL
            AND d.operation = 'DDL' AND d.new_values ->> 'event' = 'table_dropped')),
       ($1::bigint - t.id)::oid)
     WHERE t.untracked_at IS NOT NULL AND NOT EXISTS (
       SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.oid = t.relid AND n.nspname = t.schema_name AND c.relname = t.table_name)`,
    [PLACEHOLDER_OID],
  );
  result.untrustedRoles = await dropStaleRoles(client, s);
  result.aheadOfCluster = await transactionsAhead(client, s);
  return result;
}

/**
 * The log's rows whose transaction id this cluster has not assigned yet: a restore into another cluster, whose
 * transaction ids started lower, brings them. (One read of the logs, once, when a restore is found.)
 */
async function transactionsAhead(client: pg.ClientBase, s: string): Promise<TransactionsAhead | null> {
  const { rows } = await client.query<{ changes: number; requests: number; up_to: string | null }>(
    `WITH next AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xid),
       c AS (SELECT count(*)::int AS n, max(txid) AS up_to FROM ${s}.changes, next WHERE txid >= next.xid),
       r AS (SELECT count(*)::int AS n, max(txid) AS up_to FROM ${s}.api_requests, next WHERE txid >= next.xid)
     SELECT c.n AS changes, r.n AS requests, greatest(c.up_to, r.up_to)::text AS up_to FROM c, r`,
  );
  const row = rows[0];
  if (row === undefined || row.up_to === null) return null;
  return { changes: row.changes, requests: row.requests, upTo: row.up_to };
}

/**
 * The application roles are kept by oid, which a role keeps in its cluster only: restored into another cluster, an
 * oid may name another role, whose comments would be believed once a capture function is regenerated (as rebinding
 * does). A role whose oid no longer names a role of the name it was added under is no longer trusted: its writes are
 * recorded as claimed until it is added again (`auditrum app-role add`), never under another role's claim. (So is
 * an application role renamed since it was added, which the registry cannot tell from that.)
 */
async function dropStaleRoles(client: pg.ClientBase, s: string): Promise<Rebinding['untrustedRoles']> {
  const { rows } = await client.query<{ role: string; now: string | null }>(
    `DELETE FROM ${s}.application_roles a
     WHERE NOT EXISTS (SELECT FROM pg_roles r WHERE r.oid = a.role_oid AND r.rolname = a.role_name)
     RETURNING a.role_name AS role, (SELECT r.rolname FROM pg_roles r WHERE r.oid = a.role_oid) AS now`,
  );
  return rows.map(({ role, now }) => ({
    role,
    reason: `its oid names ${now === null ? 'no role' : `role ${now}`} here: add it again with "auditrum app-role add"`,
  }));
}

/**
 * Regenerates the capture functions and triggers of the rebound tables (after the schema's migrations), or of
 * every tracked table when roles are no longer trusted (each function names the trusted roles).
 */
export async function reinstallRebound(client: pg.ClientBase, schema: string, rebinding: Rebinding): Promise<void> {
  const s = quoteIdentifier(schema);
  if (rebinding.untrustedRoles.length > 0) {
    await client.query(`SELECT ${s}._reinstall_all()`);
    return;
  }
  for (const table of rebinding.rebound) await client.query(`SELECT ${s}._install($1)`, [table.id]);
}
