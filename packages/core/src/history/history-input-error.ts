/**
 * A history request that cannot be answered as asked: an unknown or untracked table, a key of the wrong shape, an
 * unknown column, a row with no history. Nothing was read or written; the CLI reports it as a usage error.
 */
export class HistoryInputError extends Error {
  override name = 'HistoryInputError';
}
