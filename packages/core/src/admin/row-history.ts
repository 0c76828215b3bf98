import type { Change, RowVersion } from './api-types.js';

/**
 * Folds one row's changes, in id order, into versions with the row's full state after each, from what the
 * triggers store: an INSERT holds the whole new row, an UPDATE the changed columns (old and new), a DELETE the
 * whole old row, a TRUNCATE nothing (the row is gone). A history that starts with an UPDATE or DELETE (the table
 * was tracked after the row existed) is incomplete until an INSERT: its state holds the columns seen so far.
 * The table's TRUNCATEs are given too (stored without a key); those that cannot concern the row (before its
 * first change, or while it did not exist) make no version.
 */
export class RowHistoryFold {
  #state: Record<string, unknown> | null = null;
  #complete = false;
  #exists = false;

  /** The version `change` makes, or undefined for a TRUNCATE that does not concern the row. */
  add(change: Change): RowVersion | undefined {
    switch (change.operation) {
      case 'INSERT':
        this.#state = { ...(change.newValues ?? {}) };
        this.#complete = true;
        break;
      case 'UPDATE':
        // Before the first INSERT, the old values are the best knowledge of the columns' earlier state.
        this.#state = {
          ...(this.#complete ? {} : (change.oldValues ?? {})),
          ...(this.#state ?? {}),
          ...(change.newValues ?? {}),
        };
        break;
      case 'DELETE':
        this.#state = null;
        this.#complete = true;
        break;
      case 'TRUNCATE':
        if (!this.#exists) return undefined;
        this.#state = null;
        this.#complete = true;
        break;
    }
    this.#exists = change.operation === 'INSERT' || change.operation === 'UPDATE';
    return { change, state: this.#state, complete: this.#complete };
  }
}
