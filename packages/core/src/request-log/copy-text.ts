/**
 * One row of PostgreSQL's COPY text format: the values separated by tabs, NULL as `\N`, ended by a newline, with
 * backslash, tab, newline and carriage return escaped. Rows are turned into these when queued, so that a flush only
 * joins bytes instead of serialising hundreds of rows in one go on the event loop.
 */
export function copyLine(values: readonly unknown[]): string {
  let line = '';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) line += '\t';
    line += copyField(values[i]);
  }
  return `${line}\n`;
}

// JSON text never holds a raw tab or line break, and most values hold no backslash: the common case is one scan.
const NEEDS_ESCAPE = /[\\\t\n\r]/;

function copyField(value: unknown): string {
  if (value === null || value === undefined) return '\\N';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = value instanceof Date ? value.toISOString() : String(value);
  if (!NEEDS_ESCAPE.test(text)) return text;
  return text.replaceAll('\\', '\\\\').replaceAll('\t', '\\t').replaceAll('\n', '\\n').replaceAll('\r', '\\r');
}
