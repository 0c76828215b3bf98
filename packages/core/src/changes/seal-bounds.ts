import type { Queryable } from '../db/queryable.js';
import type { TransactionStretch } from './transaction-name.js';

/** The ids a transaction's changes can have by the seals: above `after` and up to `upTo` (null: unbounded). */
export interface SealBounds {
  after: string | null;
  upTo: string | null;
}

/**
 * Bounds on the ids of a transaction's changes (`stretch`: its txid, and where its stretch of a restored log lies),
 * from the seals on either side of it (migration 9): a seal read the change-log sequence before its snapshot
 * (`ids_before`) and after it (`ids_after`), and a transaction gets its id before its changes draw theirs (the capture
 * runs after the tracked write). So a transaction from a seal's `xid_next` on (it began after that snapshot) has only
 * ids above that seal's `ids_before`, and one below a seal's `xid_horizon` (it had ended before that snapshot) only
 * ids up to that seal's `ids_after`. Any such seal of the transaction's cluster bounds it (another cluster's seals
 * count other transactions); the nearest on each side (one probe of migration 18's indexes) bounds it most. With no
 * seal on a side, or when the role may not read `seals`, that side is bounded by the stretch alone.
 */
export async function sealBounds(
  db: Queryable,
  schemaSql: string,
  schema: string,
  stretch: TransactionStretch,
): Promise<SealBounds> {
  const { rows: access } = await db.query<{ readable: boolean }>(
    `SELECT has_table_privilege(format('%I.seals', $1::text), 'SELECT') AS readable`,
    [schema],
  );
  if (access[0]?.readable !== true) return { after: stretch.idsAfter, upTo: stretch.idsUpTo };
  const cluster = 's.id > $2::bigint AND ($3::bigint IS NULL OR s.id <= $3::bigint)';
  const { rows } = await db.query<SealBounds>(
    `SELECT
       greatest($4::bigint, (SELECT s.ids_before FROM ${schemaSql}.seals s WHERE s.xid_next <= $1::bigint AND ${cluster}
        ORDER BY s.xid_next DESC LIMIT 1))::text AS after,
       least($5::bigint, (SELECT s.ids_after FROM ${schemaSql}.seals s WHERE s.xid_horizon > $1::bigint AND ${cluster}
        ORDER BY s.xid_horizon LIMIT 1))::text AS "upTo"`,
    [stretch.txid, stretch.sealsAfter, stretch.sealsUpTo, stretch.idsAfter, stretch.idsUpTo],
  );
  return rows[0] ?? { after: stretch.idsAfter, upTo: stretch.idsUpTo };
}
