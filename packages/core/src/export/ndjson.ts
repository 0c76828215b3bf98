import { CopiedChange, CopiedRequest } from './copied-records.js';
import type { ExportRecord } from './export-record.js';

/**
 * One record as a line of NDJSON (newline-delimited JSON): JSON escapes every newline inside a value. A record read
 * from the database writes its JSON columns' text as PostgreSQL sent it.
 */
export function ndjsonLine(record: ExportRecord): string {
  if (record instanceof CopiedChange || record instanceof CopiedRequest) return `${record.jsonLine()}\n`;
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
