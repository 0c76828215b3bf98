import { CopiedChange, CopiedRequest } from './copied-records.js';
import type { DeliveredRecord, ExportRecord } from './export-record.js';
import { deliveredRecord } from './export-record.js';

/**
 * One record as a line of NDJSON (newline-delimited JSON): JSON escapes every newline inside a value. A record read
 * from the database writes its JSON columns' text as PostgreSQL sent it.
 */
export function ndjsonLine(record: ExportRecord): string {
  if (record instanceof CopiedChange || record instanceof CopiedRequest) return `${record.jsonLine()}\n`;
  return `${JSON.stringify(record)}\n`;
}

/** Which record an NDJSON line written by ndjsonLine is, or undefined when the line is not one. */
export function ndjsonDelivered(line: string): DeliveredRecord | undefined {
  try {
    const { position, log, id } = JSON.parse(line) as Record<string, unknown>;
    return deliveredRecord(position, log, id);
  } catch {
    return undefined;
  }
}
