import type pg from 'pg';

/**
 * At most this many snapshots wait to become final (the oldest are dropped: a later one, once final, covers their
 * ids too). They pile up only while a transaction stays open across many pages.
 */
const MAX_PENDING = 64;

/** What one snapshot saw: the newest change id it could see, and the first transaction id it had not. */
interface Observation {
  maxId: bigint;
  xidNext: bigint;
}

/** A change as the last look saw it. */
interface Anchor {
  id: bigint;
  /** ISO 8601 in UTC. */
  changedAt: string;
  txid: bigint;
}

/**
 * The ids final now (`upTo`), and how many times so far the log was found emptied or gone back in time (`resets`):
 * a summary made at another count is stale.
 */
export interface FinalObservation {
  upTo: bigint;
  resets: number;
}

/**
 * Which change ids are final: no row can appear at them any more, since every transaction that may have drawn them
 * has ended (committed or rolled back). The admin's in-memory summaries of the log (transaction-blocks.ts,
 * table-departures.ts) read only such ids, and the ids above them as they are at each call. Finality comes from
 * snapshots, as for the seals (migration 9): a transaction gets its id before its changes draw theirs and ids are
 * drawn in increasing order, so every id up to the newest one a snapshot sees was drawn by a transaction below that
 * snapshot's `xmax`; once a later snapshot's `xmin` reaches that `xmax`, they have all ended. Callers serialize their
 * calls of `observe`. When the log was emptied, or the database went back in time (a failover to a standby that had
 * not received the last commits, a restore), ids already final may be drawn again by other transactions: the count
 * of such resets tells the callers to start their summaries again.
 */
export class FinalIds {
  private final = 0n;
  private resets = 0;
  /** Snapshots whose ids are not final yet, oldest first. */
  private pending: Observation[] = [];
  /** The newest change at or below `final` when it became final: while it is there as it was, so is the rest. */
  private anchor: Anchor | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schemaSql: string,
  ) {}

  /** Looks at the log now: the ids final so far (never fewer than before, unless the log was emptied meanwhile). */
  async observe(): Promise<FinalObservation> {
    const now = await this.snapshot();
    // The log emptied, or the database gone back in time: the newest id alone cannot tell once the log has grown past
    // it again; its row can.
    if (now.maxId < this.final || !now.anchored) {
      this.final = 0n;
      this.pending = [];
      this.anchor = undefined;
      this.resets += 1;
    }
    this.pending.push({ maxId: now.maxId, xidNext: now.xidNext });
    if (this.pending.length > MAX_PENDING) this.pending.shift();
    // Transactions are short: the ones open at this snapshot have usually ended a moment later.
    if (now.horizon < now.xidNext) now.horizon = (await this.snapshot()).horizon;
    let upTo = this.final;
    for (const seen of this.pending) if (seen.xidNext <= now.horizon && seen.maxId > upTo) upTo = seen.maxId;
    this.pending = this.pending.filter((seen) => seen.xidNext > now.horizon);
    if (upTo > this.final) await this.anchorAt(upTo);
    return { upTo: this.final, resets: this.resets };
  }

  private async snapshot(): Promise<Observation & { horizon: bigint; anchored: boolean }> {
    // One statement, one snapshot: the newest id it sees, its xmin and xmax, and whether the anchor is still there.
    const anchor = this.anchor;
    const { rows } = await this.pool.query<{ max_id: string | null; horizon: string; next: string; anchored: boolean }>(
      `SELECT (SELECT max(c.id) FROM ${this.schemaSql}.changes c)::text AS max_id,
         pg_snapshot_xmin(s)::text AS horizon, pg_snapshot_xmax(s)::text AS next,
         ${
           anchor === undefined
             ? 'true'
             : `EXISTS (SELECT FROM ${this.schemaSql}.changes c
                 WHERE c.id = $1::bigint AND c.changed_at = $2::timestamptz AND c.txid = $3::bigint)`
         } AS anchored
       FROM pg_current_snapshot() s`,
      anchor === undefined ? [] : [String(anchor.id), anchor.changedAt, String(anchor.txid)],
    );
    const row = rows[0] as { max_id: string | null; horizon: string; next: string; anchored: boolean };
    return {
      maxId: BigInt(row.max_id ?? 0),
      horizon: BigInt(row.horizon),
      xidNext: BigInt(row.next),
      anchored: row.anchored,
    };
  }

  /** Ids up to `upTo` are final: the newest change among them becomes the anchor. */
  private async anchorAt(upTo: bigint): Promise<void> {
    // Its changed_at as text in UTC, so that the probe finds its partition by the time whatever the session's zone.
    const { rows } = await this.pool.query<{ id: string; changed_at: string; txid: string }>(
      `SELECT c.id::text AS id, to_char(c.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS changed_at,
         c.txid::text AS txid
       FROM ${this.schemaSql}.changes c WHERE c.id <= $1::bigint ORDER BY c.id DESC LIMIT 1`,
      [String(upTo)],
    );
    const row = rows[0];
    this.anchor = row && { id: BigInt(row.id), changedAt: row.changed_at, txid: BigInt(row.txid) };
    this.final = upTo;
  }
}
