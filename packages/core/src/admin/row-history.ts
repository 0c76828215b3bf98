import type { Change, RowVersion } from './api-types.js';

/** The fold's state after a change: where a fold of the later changes starts (history-checkpoints.ts). */
export interface FoldState {
  state: Record<string, unknown> | null;
  oversized: readonly string[];
  erased: readonly string[];
  complete: boolean;
  /** The row exists after it (a TRUNCATE then ends it). */
  exists: boolean;
}

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
  /** The columns of the state that hold an oversized marker. */
  #oversized = new Set<string>();
  /** The columns of the state whose value an erasure replaced (null in it). */
  #erased = new Set<string>();
  #complete = false;
  #exists = false;

  /** A fold from the row's first change, or on from a state kept after a change (then given the later ones only). */
  constructor(start?: FoldState) {
    if (!start) return;
    this.#state = start.state === null ? null : { ...start.state };
    this.#oversized = new Set(start.oversized);
    this.#erased = new Set(start.erased);
    this.#complete = start.complete;
    this.#exists = start.exists;
  }

  /** The version `change` makes, or undefined for a TRUNCATE that does not concern the row. */
  add(change: Change): RowVersion | undefined {
    switch (change.operation) {
      case 'INSERT':
        this.#state = { ...(change.newValues ?? {}) };
        this.#oversized = new Set(change.oversized?.new);
        this.#erased = new Set(change.erased?.new);
        this.#complete = true;
        break;
      case 'UPDATE':
        // Before the first INSERT, the old values are the best knowledge of the columns' earlier state.
        if (!this.#complete) {
          for (const column of Object.keys(change.oldValues ?? {})) {
            if (this.#state && Object.hasOwn(this.#state, column)) continue;
            if (change.oversized?.old.includes(column)) this.#oversized.add(column);
            if (change.erased?.old.includes(column)) this.#erased.add(column);
          }
        }
        for (const column of Object.keys(change.newValues ?? {})) {
          if (change.oversized?.new.includes(column)) this.#oversized.add(column);
          else this.#oversized.delete(column);
          if (change.erased?.new.includes(column)) this.#erased.add(column);
          else this.#erased.delete(column);
        }
        this.#state = {
          ...(this.#complete ? {} : (change.oldValues ?? {})),
          ...(this.#state ?? {}),
          ...(change.newValues ?? {}),
        };
        break;
      case 'DELETE':
      case 'TRUNCATE':
        if (change.operation === 'TRUNCATE' && !this.#exists) return undefined;
        this.#state = null;
        this.#oversized = new Set();
        this.#erased = new Set();
        this.#complete = true;
        break;
    }
    this.#exists = change.operation === 'INSERT' || change.operation === 'UPDATE';
    return {
      change,
      state: this.#state,
      oversized: [...this.#oversized].sort(),
      erased: [...this.#erased].sort(),
      complete: this.#complete,
    };
  }
}
