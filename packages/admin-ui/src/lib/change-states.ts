import type { Change, HistoryResponse } from '@auditrum/core/admin';
import type { ChangeErasure } from './erased.ts';
import { withErasedColumns } from './erased.ts';
import { withTooLargeValues } from './oversized.ts';

/**
 * The row before and after one change, as complete as what is known: the change's own values, completed
 * with the row's state after it (from its history) so that unchanged columns can be shown folded; values an erasure
 * replaced (the API lists them) as ErasedValue, with the erasures of `erasure` when known.
 */
export function statesOfChange(
  change: Change,
  history: HistoryResponse | null,
  erasure: ChangeErasure | null = null,
): { before: Record<string, unknown> | null; after: Record<string, unknown> | null } {
  const version = history?.versions.find((v) => v.change.id === change.id);
  const stateAfter = withErasedColumns(
    withTooLargeValues(version?.state ?? null, version?.oversized),
    version?.erased,
    erasure,
  );
  const oldValues = withErasedColumns(
    withTooLargeValues(change.oldValues, change.oversized?.old),
    change.erased?.old,
    erasure,
  );
  const newValues = withErasedColumns(
    withTooLargeValues(change.newValues, change.oversized?.new),
    change.erased?.new,
    erasure,
  );
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
