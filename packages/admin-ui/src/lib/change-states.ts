import type { Change, HistoryResponse } from '@auditrum/core/admin';
import { withTooLargeValues } from './oversized.ts';

/**
 * The row before and after one change, as complete as what is known: the change's own values, completed
 * with the row's state after it (from its history) so that unchanged columns can be shown folded.
 */
export function statesOfChange(
  change: Change,
  history: HistoryResponse | null,
): { before: Record<string, unknown> | null; after: Record<string, unknown> | null } {
  const version = history?.versions.find((v) => v.change.id === change.id);
  const stateAfter = withTooLargeValues(version?.state ?? null, version?.oversized);
  const oldValues = withTooLargeValues(change.oldValues, change.oversized?.old);
  const newValues = withTooLargeValues(change.newValues, change.oversized?.new);
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
