import { cefDelivered, cefLine } from './cef.js';
import type { DeliveredRecord, ExportRecord } from './export-record.js';
import { ndjsonDelivered, ndjsonLine } from './ndjson.js';

/** An output format: a record as one line, which record such a line is, and how files and HTTP name it. */
export interface ExportFormat {
  line(record: ExportRecord): string;
  delivered(line: string): DeliveredRecord | undefined;
  fileExtension: string;
  contentType: string;
}

export const EXPORT_FORMATS = {
  ndjson: {
    line: ndjsonLine,
    delivered: ndjsonDelivered,
    fileExtension: 'ndjson',
    contentType: 'application/x-ndjson',
  },
  cef: { line: cefLine, delivered: cefDelivered, fileExtension: 'cef', contentType: 'text/plain; charset=utf-8' },
} satisfies Record<string, ExportFormat>;

export type ExportFormatName = keyof typeof EXPORT_FORMATS;
