import type { ChangeRow } from '../changes/change-row.js';
import type { ExportLog } from './export-cursor.js';

/**
 * One exported row. `position` is `step:index`, the row's place in the export: a row is always exported at the same
 * position (a step runs again with the same rows in the same order), so a receiver drops a repeat by it, or by
 * `log` and `id` (unique per database).
 */
interface ExportRecordBase {
  position: string;
  log: ExportLog;
  id: string;
  /** ISO 8601 in UTC with microseconds: when the change was made or the request started. */
  time: string;
}

/** A change row as the admin reads it (ChangeRow), its time as `time`, with the table's name beside its id. */
export interface ChangeExportRecord extends ExportRecordBase, Omit<ChangeRow, 'id' | 'changed_at'> {
  log: 'changes';
  /** The table's schema and name when the change was made (null only for a table missing from the registry). */
  schema: string | null;
  table: string | null;
}

export interface RequestExportRecord extends ExportRecordBase {
  log: 'requests';
  /**
   * The transaction's name, as a change's (`txid`, or `txid@n` for a call restored from another cluster); null for
   * rows written before schema 14.
   */
  txid: string | null;
  request_id: string;
  method: string;
  path: string;
  route: string | null;
  query: unknown;
  status: number | null;
  duration_ms: number;
  aborted: boolean;
  actor_id: string | null;
  actor_label: string | null;
  ip: string | null;
  user_agent: string | null;
  request_headers: unknown;
  response_headers: unknown;
  request_body: unknown;
  response_body: unknown;
  error: string | null;
}

export type ExportRecord = ChangeExportRecord | RequestExportRecord;

/** A delivered record's place: its position and its row (a resumed step starts after that row). */
export interface DeliveredRecord {
  position: string;
  log: ExportLog;
  id: string;
}

/** A DeliveredRecord from values read back from a sink, or undefined when they are not one. */
export function deliveredRecord(position: unknown, log: unknown, id: unknown): DeliveredRecord | undefined {
  const ok =
    typeof position === 'string' &&
    parsePosition(position) !== undefined &&
    (log === 'changes' || log === 'requests') &&
    typeof id === 'string' &&
    /^\d{1,19}$/.test(id);
  return ok ? { position, log, id } : undefined;
}

/** A position's step and index. */
export function parsePosition(position: string): { step: number; index: number } | undefined {
  const match = /^(\d{1,15}):(\d{1,15})$/.exec(position);
  return match ? { step: Number(match[1]), index: Number(match[2]) } : undefined;
}
