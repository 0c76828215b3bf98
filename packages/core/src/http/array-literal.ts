/**
 * One element of a PostgreSQL array literal (`{…,…}`) for a value of the API log: NULL, or the value's text in
 * double quotes with `\` and `"` escaped. Rows are turned into these when queued, so that a flush only joins
 * strings instead of serialising hundreds of rows in one go on the event loop.
 */
export function arrayElement(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = value instanceof Date ? value.toISOString() : String(value);
  // Two string replaceAll() calls cost about half of one regex replace with `$&` (JSON text has many quotes).
  if (!text.includes('"') && !text.includes('\\')) return `"${text}"`;
  return `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** The array literal of some elements made by arrayElement(). */
export function arrayLiteral(elements: readonly string[]): string {
  return `{${elements.join(',')}}`;
}
