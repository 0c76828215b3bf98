import type { TableRowState } from '../history/history-types.js';

/**
 * RFC 4180 quoting, and spreadsheet formula injection defused: a text cell starting with = + - @ or a control
 * character gets a leading apostrophe (OWASP's advice), unless it is a plain number such as -5.
 */
export function csvCell(value: string): string {
  const defused = /^[=+\-@\t\r]/.test(value) && !/^[+-]?\d+(\.\d+)?$/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(defused) || defused !== value ? `"${defused.replaceAll('"', '""')}"` : defused;
}

/** The header of a table as of a time in CSV: today's columns, then the column naming the unknown values. */
export function tableCsvHeader(columns: readonly string[]): string {
  return [...columns, 'unknown'].map(csvCell).join(',');
}

/**
 * One row of a table as of a time in CSV: its values (csvText), then the unknown values as `column:reason`, space separated (so an empty cell is a NULL, never an unknown value).
 */
export function tableCsvLine(row: TableRowState, columns: readonly string[]): string {
  // A row that may have been deleted unseen (exists null) is named first, as `exists:unknown` (no reason is "unknown").
  const unknown = [
    ...(row.exists === null ? ['exists:unknown'] : []),
    ...row.unknown.map((entry) => `${entry.column}:${entry.reason}`),
  ].join(' ');
  return [...columns.map((column) => csvText(row.values[column])), unknown].map(csvCell).join(',');
}

/** A value as CSV text: text as it is, NULL (and an unknown value) empty, anything else as JSON. */
export function csvText(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}
