import { cefLine, cefPosition } from './cef.js';
import type { ExportRecord } from './export-record.js';
import { ndjsonLine, ndjsonPosition } from './ndjson.js';

/** An output format: a record as one line, the position back from such a line, and how files and HTTP name it. */
export interface ExportFormat {
  line(record: ExportRecord): string;
  position(line: string): string | undefined;
  fileExtension: string;
  contentType: string;
}

export const EXPORT_FORMATS = {
  ndjson: { line: ndjsonLine, position: ndjsonPosition, fileExtension: 'ndjson', contentType: 'application/x-ndjson' },
  cef: { line: cefLine, position: cefPosition, fileExtension: 'cef', contentType: 'text/plain; charset=utf-8' },
} satisfies Record<string, ExportFormat>;

export type ExportFormatName = keyof typeof EXPORT_FORMATS;
