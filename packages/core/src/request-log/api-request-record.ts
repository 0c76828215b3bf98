import type { JsonValue, StoredJson } from '../bodies/stored-json.js';
import { JsonText } from '../bodies/stored-json.js';

/** One row of `api_requests`, masked and cleaned, ready to queue. */
export interface ApiRequestRecord {
  requestedAt: Date;
  requestId: string;
  method: string;
  path: string;
  route: string | null;
  query: JsonValue;
  status: number | null;
  durationMs: number;
  aborted: boolean;
  actorId: string | null;
  actorLabel: string | null;
  ip: string | null;
  userAgent: string | null;
  requestHeaders: StoredJson;
  responseHeaders: StoredJson;
  requestBody: StoredJson;
  responseBody: StoredJson;
  error: string | null;
}

/** Column names, in the order the writer sends them. */
export const API_REQUEST_COLUMNS = [
  ['requested_at', 'timestamptz'],
  ['request_id', 'text'],
  ['method', 'text'],
  ['path', 'text'],
  ['route', 'text'],
  ['query', 'jsonb'],
  ['status', 'smallint'],
  ['duration_ms', 'real'],
  ['aborted', 'boolean'],
  ['actor_id', 'text'],
  ['actor_label', 'text'],
  ['ip', 'text'],
  ['user_agent', 'text'],
  ['request_headers', 'jsonb'],
  ['response_headers', 'jsonb'],
  ['request_body', 'jsonb'],
  ['response_body', 'jsonb'],
  ['error', 'text'],
] as const;

/** The record's values in API_REQUEST_COLUMNS order; jsonb values as JSON text. */
export function recordValues(record: ApiRequestRecord): unknown[] {
  return [
    record.requestedAt,
    record.requestId,
    record.method,
    record.path,
    record.route,
    json(record.query),
    record.status,
    record.durationMs,
    record.aborted,
    record.actorId,
    record.actorLabel,
    record.ip,
    record.userAgent,
    json(record.requestHeaders),
    json(record.responseHeaders),
    json(record.requestBody),
    json(record.responseBody),
    record.error,
  ];
}

function json(value: StoredJson): string | null {
  if (value instanceof JsonText) return value.text;
  return value === null ? null : JSON.stringify(value);
}
