import type { SealBounds } from '../changes/seal-bounds.js';
import { sealBounds } from '../changes/seal-bounds.js';
import type { TransactionStretch } from '../changes/transaction-name.js';
import type { ApiContext } from './api-context.js';
import type { TransactionRanges } from './transaction-blocks.js';

/**
 * The ids a transaction's changes can have: above `after` and up to `upTo` by the seals around it (null: unbounded
 * on that side), and within `blocks` when the admin keeps its summary of transactions (transaction-blocks.ts).
 */
export interface TransactionIds extends SealBounds {
  blocks?: TransactionRanges;
}

/** The bounds on a transaction's change ids that its stretch of the log, the seals and the admin's summary give. */
export async function transactionIds(api: ApiContext, stretch: TransactionStretch): Promise<TransactionIds> {
  const blocks = await api.transactionBlocks?.rangesOf(stretch.txid);
  const bounds = await sealBounds(api.pool, api.schemaSql, api.schema, stretch);
  return blocks === undefined ? bounds : { ...bounds, blocks };
}
