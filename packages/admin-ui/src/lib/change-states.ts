import type { Change, HistoryResponse } from '@auditrum/core/admin';
import type { ChangeErasure } from './erased.ts';
import { withErasedValues } from './erased.ts';
import { withTooLargeValues } from './oversized.ts';

/**
 * The row before and after one change, as complete as what is known: the change's own values, completed
 * with the row's state after it (from its history) so that unchanged columns can be shown folded; values an erasure
 * replaced (when `erasure` says one touched the change) as ErasedValue.
 */
export function statesOfChange(
  change: Change,
  history: HistoryResponse | null,
  erasure: ChangeErasure | null = null,
): { before: Record<string, unknown> | null; after: Record<string, unknown> | null } {
  const version = history?.versions.find((v) => v.change.id === change.id);
  const stateAfter = withErasedValues(withTooLargeValues(version?.state ?? null, version?.oversized), erasure);
  const oldValues = withErasedValues(withTooLargeValues(change.oldValues, change.oversized?.old), erasure);
  const newValues = withErasedValues(withTooLargeValues(change.newValues, change.oversized?.new), erasure);
  switch (change.operation) {
    case 'INSERT':
      return { before: null, after: stateAfter ?? newValues ?? {} };
    case 'UPDATE': {
      const after = stateAfter ? { ...stateAfter, ...newValues } : { ...newValues };
      return { before: { ...after, ...oldValues }, after };
    }
    case 'DELETE':
      return { before: oldValues ?? {}, after: null };
    case 'TRUNCATE':
    case 'DDL':
      return { before: null, after: null };
  }
}
