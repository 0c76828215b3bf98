import type { ExportRecord } from './export-record.js';

/** One record as a line of NDJSON (newline-delimited JSON): JSON escapes every newline inside a value. */
export function ndjsonLine(record: ExportRecord): string {
  return `${JSON.stringify(record)}\n`;
}

/** The position in an NDJSON line written by ndjsonLine, or undefined when the line is not one. */
export function ndjsonPosition(line: string): string | undefined {
  try {
    const position = (JSON.parse(line) as { position?: unknown }).position;
    return typeof position === 'string' ? position : undefined;
  } catch {
    return undefined;
  }
}
