import type { Change, HistoryResponse } from '@auditrum/core/admin';

/**
 * The row before and after one change, as complete as what is known: the change's own values, completed
 * with the row's state after it (from its history) so that unchanged columns can be shown folded.
 */
export function statesOfChange(
  change: Change,
  history: HistoryResponse | null,
): { before: Record<string, unknown> | null; after: Record<string, unknown> | null } {
  const version = history?.versions.find((v) => v.change.id === change.id);
  const stateAfter = version?.state ?? null;
  switch (change.operation) {
    case 'INSERT':
      return { before: null, after: stateAfter ?? change.newValues ?? {} };
    case 'UPDATE': {
      const after = stateAfter ? { ...stateAfter, ...change.newValues } : { ...change.newValues };
      return { before: { ...after, ...change.oldValues }, after };
    }
    case 'DELETE':
      return { before: change.oldValues ?? {}, after: null };
    case 'TRUNCATE':
      return { before: null, after: null };
  }
}
