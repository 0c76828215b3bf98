import type { Change, RowVersion } from './api-types.js';
import { epochMicros } from './query-params.js';

/**
 * Each version's full state, derived from what the triggers store: an INSERT holds the whole new row, an UPDATE
 * the changed columns (old and new), a DELETE the whole old row, a TRUNCATE nothing (the row is gone). A
 * history that starts with an UPDATE or DELETE (the table was tracked after the row existed) is incomplete
 * until an INSERT: its state holds the columns seen so far.
 */
export function rowVersions(changes: readonly Change[]): RowVersion[] {
  const versions: RowVersion[] = [];
  let state: Record<string, unknown> | null = null;
  let complete = false;
  for (const change of changes) {
    switch (change.operation) {
      case 'INSERT':
        state = { ...(change.newValues ?? {}) };
        complete = true;
        break;
      case 'UPDATE':
        // Before the first INSERT, the old values are the best knowledge of the columns' earlier state.
        state = { ...(complete ? {} : (change.oldValues ?? {})), ...(state ?? {}), ...(change.newValues ?? {}) };
        break;
      case 'DELETE':
        state = null;
        complete = true;
        break;
      case 'TRUNCATE':
        state = null;
        complete = true;
        break;
    }
    versions.push({ change, state, complete });
  }
  return versions;
}

/** The row as it was at `at`: the state after the last change made at or before it; null before the first. */
export function stateAt(versions: readonly RowVersion[], at: string): Record<string, unknown> | null {
  const instant = epochMicros(at);
  let state: Record<string, unknown> | null = null;
  for (const version of versions) {
    if (epochMicros(version.change.changedAt) > instant) break;
    state = version.state;
  }
  return state;
}
