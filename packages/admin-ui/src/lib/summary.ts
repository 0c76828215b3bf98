import type { Change } from '@auditrum/core/admin';
import { formatValue, truncate } from './values.ts';

const MAX_FIELDS = 3;
const MAX_VALUE = 32;

const short = (value: unknown) => truncate(formatValue(value), MAX_VALUE);

/**
 * One line that says what a change did: `status: draft → paid, total: 10 → 12` for an UPDATE, the first
 * fields of the row for an INSERT or DELETE.
 */
export function changeSummary(change: Change): string {
  switch (change.operation) {
    case 'UPDATE': {
      const old = change.oldValues ?? {};
      const next = change.newValues ?? {};
      const columns = change.changedColumns ?? [...new Set([...Object.keys(old), ...Object.keys(next)])];
      return listFields(columns, (column) => `${column}: ${short(old[column])} → ${short(next[column])}`);
    }
    case 'INSERT':
    case 'DELETE': {
      const row = (change.operation === 'INSERT' ? change.newValues : change.oldValues) ?? {};
      return listFields(Object.keys(row), (column) => `${column}: ${short(row[column])}`);
    }
    case 'TRUNCATE':
      return 'every row removed';
  }
}

function listFields(columns: string[], describe: (column: string) => string): string {
  if (columns.length === 0) return '';
  const shown = columns.slice(0, MAX_FIELDS).map(describe).join(', ');
  const more = columns.length - MAX_FIELDS;
  return more > 0 ? `${shown} (+${more} more)` : shown;
}
