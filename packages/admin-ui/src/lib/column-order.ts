/**
 * `record` with its keys in the table's column order (the log stores values as jsonb, which orders keys by length:
 * `id, note, total, status`); keys that are not columns today (dropped since) keep their place after them.
 */
export function inColumnOrder<T extends Record<string, unknown> | null>(record: T, columns: readonly string[]): T {
  if (record === null || columns.length === 0) return record;
  const ordered: Record<string, unknown> = {};
  for (const column of columns) if (Object.hasOwn(record, column)) ordered[column] = record[column];
  for (const [key, value] of Object.entries(record)) if (!Object.hasOwn(ordered, key)) ordered[key] = value;
  return ordered as T;
}
