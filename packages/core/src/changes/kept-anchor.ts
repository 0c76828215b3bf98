/**
 * The condition that a summary ensure_partitions() keeps (transaction_blocks_kept, kept_departures_tables: their
 * `anchor_id`, `anchor_at`, `anchor_txid`, the newest change it counts) still describes this log: that change is still
 * there as it was, so the log was not emptied and its ids drawn again since. `kept` is the summary row's alias.
 */
export function keptAnchorHolds(schemaSql: string, kept: string): string {
  return `EXISTS (SELECT FROM ${schemaSql}.changes c
    WHERE c.id = ${kept}.anchor_id AND c.changed_at = ${kept}.anchor_at AND c.txid = ${kept}.anchor_txid)`;
}
