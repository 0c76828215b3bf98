import { isIP } from 'node:net';
import { CopiedChange } from './copied-records.js';
import type { ChangeExportRecord, DeliveredRecord, ExportRecord, RequestExportRecord } from './export-record.js';
import { deliveredRecord } from './export-record.js';

/**
 * ArcSight Common Event Format (CEF) 0: `CEF:0|Vendor|Product|Version|Signature ID|Name|Severity|Extension`, one
 * event per line. In the header a backslash and a pipe are escaped with a backslash (a newline, not allowed there,
 * becomes a space); in the extension (`key=value` pairs separated by spaces) a backslash and an equals sign are
 * escaped, and a newline or carriage return is written `\n` or `\r`, so that one event is always one line.
 */
export const CEF_HEADER_START = 'CEF:0|Auditrum|Auditrum|1|';

// Most values need no escaping: one test first, the replacements only when it finds something.
const HEADER_SPECIAL = /[\\|\r\n]/;
const EXTENSION_SPECIAL = /[\\=\r\n]/;

export function cefHeaderValue(value: string): string {
  if (!HEADER_SPECIAL.test(value)) return value;
  return value.replace(/[\\|]/g, '\\$&').replace(/\r\n|[\r\n]/g, ' ');
}

export function cefExtensionValue(value: string): string {
  if (!EXTENSION_SPECIAL.test(value)) return value;
  return value.replace(/[\\=]/g, '\\$&').replace(/\r/g, '\\r').replace(/\n/g, '\\n');
}

// Severity 0–10: writes that destroy rows or change capture rank above plain writes; server errors above client ones.
const CHANGE_SEVERITY: Record<ChangeExportRecord['operation'], number> = {
  INSERT: 3,
  UPDATE: 3,
  DELETE: 5,
  TRUNCATE: 7,
  DDL: 8,
};

function requestSeverity(record: RequestExportRecord): number {
  if (record.status !== null && record.status >= 500) return 6;
  if (record.aborted || (record.status !== null && record.status >= 400)) return 4;
  return 2;
}

type Extension = [key: string, value: string | number | null | undefined];

/** One record as a line of CEF (see docs/export.md for the mapping of each field to CEF's keys). */
export function cefLine(record: ExportRecord): string {
  const [signature, name, severity, extension] = record.log === 'changes' ? changeEvent(record) : requestEvent(record);
  let pairs = '';
  for (const [key, value] of extension) {
    if (value === null || value === undefined || value === '') continue;
    pairs += `${pairs === '' ? '' : ' '}${key}=${cefExtensionValue(String(value))}`;
  }
  return `${CEF_HEADER_START}${cefHeaderValue(signature)}|${cefHeaderValue(name)}|${severity}|${pairs}\n`;
}

function changeEvent(record: ChangeExportRecord): [string, string, number, Extension[]] {
  const table = record.table === null ? `table ${record.table_id}` : `${record.schema}.${record.table}`;
  const context = record.context ?? {};
  const reason = typeof context.reason === 'string' ? context.reason : undefined;
  const ip = typeof context.ip === 'string' && isIP(context.ip) !== 0 ? context.ip : undefined;
  const json = (column: 'old_values' | 'new_values' | 'context') =>
    record instanceof CopiedChange ? record.jsonText(column) : (JSON.stringify(record[column]) ?? 'null');
  const [oldValues, newValues] = [json('old_values'), json('new_values')];
  const values =
    oldValues === 'null' && newValues === 'null' ? undefined : `{"old_values":${oldValues},"new_values":${newValues}}`;
  return [
    `change:${record.operation}`,
    `${record.operation} ${table}`,
    CHANGE_SEVERITY[record.operation] ?? 3,
    [
      ['rt', Date.parse(record.time)],
      ['act', record.operation],
      ['suser', record.actor_id],
      ['src', ip],
      ['externalId', record.id],
      ['cs1Label', 'table'],
      ['cs1', table],
      ['cs2Label', 'rowKey'],
      ['cs2', record.row_key],
      ['cs3Label', 'requestId'],
      ['cs3', record.request_id],
      ['cs4Label', 'reason'],
      ['cs4', reason],
      ['cs5Label', 'position'],
      ['cs5', record.position],
      ['cs6Label', 'context'],
      ['cs6', record.context === null ? undefined : json('context')],
      ['msg', values],
    ],
  ];
}

function requestEvent(record: RequestExportRecord): [string, string, number, Extension[]] {
  return [
    `request:${record.method}`,
    `${record.method} ${record.route ?? record.path}`,
    requestSeverity(record),
    [
      ['rt', Date.parse(record.time)],
      ['act', record.method],
      ['requestMethod', record.method],
      ['request', record.path],
      ['suser', record.actor_id],
      ['src', record.ip !== null && isIP(record.ip) !== 0 ? record.ip : undefined],
      ['requestClientApplication', record.user_agent],
      ['externalId', record.id],
      ['outcome', record.aborted ? 'aborted' : record.status === null ? undefined : String(record.status)],
      ['cn1Label', 'status'],
      ['cn1', record.status],
      ['cn2Label', 'durationMs'],
      ['cn2', Math.round(record.duration_ms)],
      ['cs1Label', 'route'],
      ['cs1', record.route],
      ['cs2Label', 'actorLabel'],
      ['cs2', record.actor_label],
      ['cs3Label', 'requestId'],
      ['cs3', record.request_id],
      ['cs5Label', 'position'],
      ['cs5', record.position],
      ['msg', record.error],
    ],
  ];
}

/**
 * Which record a CEF line written by cefLine is (its signature's log, its externalId and its cs5 position), or
 * undefined when the line is not one. The last match of each key: a header value may hold ` cs5=` (the header does
 * not escape `=`), an extension value never does.
 */
export function cefDelivered(line: string): DeliveredRecord | undefined {
  if (!line.startsWith(CEF_HEADER_START)) return undefined;
  const signature = line.slice(CEF_HEADER_START.length).split(':', 1)[0];
  const log = signature === 'change' ? 'changes' : signature === 'request' ? 'requests' : undefined;
  const last = (key: string) => [...line.matchAll(new RegExp(` ${key}=(\\d+(?::\\d+)?)(?= |$)`, 'g'))].at(-1)?.[1];
  return deliveredRecord(last('cs5'), log, last('externalId'));
}
