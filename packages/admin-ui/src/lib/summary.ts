import type { Change } from '@auditrum/core/admin';
import { inColumnOrder } from './column-order.ts';
import { diffRecords } from './diff.ts';
import { ErasedValue, withErasedColumns } from './erased.ts';
import { TooLargeValue, withTooLargeValues } from './oversized.ts';
import { formatValue, isPlainObject, truncate } from './values.ts';

const MAX_FIELDS = 3;
const MAX_VALUE = 32;

function short(value: unknown): string {
  if (value === undefined) return '(none)';
  if (value instanceof TooLargeValue) return `(too large: ${value.bytes.toLocaleString('en')} bytes)`;
  // An erased column's value is null in the API (Change.erased names it): "null" would say the value was null.
  if (value instanceof ErasedValue) return '(erased)';
  return truncate(formatValue(value), MAX_VALUE);
}

const isJsonObject = (value: unknown): value is Record<string, unknown> =>
  isPlainObject(value) && !(value instanceof TooLargeValue) && !(value instanceof ErasedValue);

/** One side of a change's values, with its too-large and its erased columns as the summary names them. */
function sideOf(change: Change, side: 'old' | 'new'): Record<string, unknown> | null {
  const values = side === 'old' ? change.oldValues : change.newValues;
  return withErasedColumns(withTooLargeValues(values, change.oversized?.[side]), change.erased?.[side], null);
}

/** What changed in one column: itself, or, inside a JSON object, each changed nested key (`address.city`). */
function changedPaths(path: string, before: unknown, after: unknown): [string, unknown, unknown][] {
  if (!isJsonObject(before) || !isJsonObject(after)) return [[path, before, after]];
  return diffRecords(before, after)
    .filter((entry) => entry.kind !== 'unchanged')
    .flatMap((entry) => changedPaths(`${path}.${entry.key}`, entry.before, entry.after));
}

/**
 * One line that says what a change did: `status: draft → paid, address.city: Leeds → York` for an UPDATE,
 * the first fields of the row for an INSERT or DELETE; fields in the table's `columns` order when given.
 */
export function changeSummary(change: Change, columns: readonly string[] = []): string {
  switch (change.operation) {
    case 'UPDATE': {
      const old = sideOf(change, 'old') ?? {};
      const next = sideOf(change, 'new') ?? {};
      const changed = Object.keys(
        inColumnOrder(
          Object.fromEntries((change.changedColumns ?? [...Object.keys(old), ...Object.keys(next)]).map((c) => [c, 1])),
          columns,
        ),
      );
      const paths = changed.flatMap((column) => changedPaths(column, old[column], next[column]));
      return listFields(paths, ([path, before, after]) => `${path}: ${short(before)} → ${short(after)}`);
    }
    case 'INSERT':
    case 'DELETE': {
      const row = inColumnOrder(sideOf(change, change.operation === 'INSERT' ? 'new' : 'old') ?? {}, columns);
      return listFields(Object.keys(row), (column) => `${column}: ${short(row[column])}`);
    }
    case 'TRUNCATE':
      return 'every row removed';
    case 'DDL':
      return schemaEventSummary(change);
  }
}

/** What a DDL row says happened to capture: see docs/compliance.md (untracked, capture_repaired, table_dropped). */
const SCHEMA_EVENTS: Record<string, string> = {
  untracked: 'auditing stopped (untracked)',
  capture_repaired: 'stopped capture repaired',
  table_dropped: 'table dropped',
};

export function schemaEventSummary(change: Change): string {
  const event = change.newValues?.event;
  const problems = change.oldValues?.problems;
  const what = typeof event === 'string' ? (SCHEMA_EVENTS[event] ?? event) : 'schema change';
  return Array.isArray(problems) && problems.length > 0 ? `${what}: ${problems.map(String).join('; ')}` : what;
}

function listFields<T>(fields: T[], describe: (field: T) => string): string {
  if (fields.length === 0) return '';
  const shown = fields.slice(0, MAX_FIELDS).map(describe).join(', ');
  const more = fields.length - MAX_FIELDS;
  return more > 0 ? `${shown} (+${more} more)` : shown;
}
