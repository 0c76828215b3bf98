import { activeTraceIds } from '../telemetry/open-telemetry.js';
import type { AuditContext, AuditScope } from './audit-context.js';

/** The marker the capture triggers look for at the very start of the statement text. */
export const CONTEXT_COMMENT_PREFIX = '/*auditrum:';

/** Caps per field, in characters; the whole comment is capped at MAX_CONTEXT_JSON (the trigger ignores more). */
export const FIELD_LIMITS = {
  actor_id: 256,
  actor_label: 256,
  reason: 1000,
  source: 64,
  request_id: 128,
  method: 16,
  route: 512,
  path: 1024,
  ip: 64,
  user_agent: 512,
  job_queue: 256,
  job_name: 256,
  job_id: 256,
  trace_id: 32,
  span_id: 16,
} as const;
export const MAX_CONTEXT_JSON = 8192;
/** Change ids kept in `reverts` (a restore of a row can reverse thousands); `reverts_total` counts them all. */
export const MAX_REVERTS = 100;

type Field = keyof typeof FIELD_LIMITS;

/** The context as the trigger stores it: flat snake_case fields, actor and request id lifted into columns. */
export function contextRecord(context: AuditContext): Record<string, unknown> {
  const fields: Partial<Record<Field, string | undefined>> = {
    actor_id: context.actor?.id,
    actor_label: context.actor?.label,
    reason: context.reason,
    source: context.source ?? 'app',
    request_id: context.requestId,
    method: context.method,
    route: context.route,
    path: context.path,
    ip: context.ip,
    user_agent: context.userAgent,
    job_queue: context.job?.queue,
    job_name: context.job?.name,
    job_id: context.job?.id,
    trace_id: context.trace?.traceId,
    span_id: context.trace?.spanId,
  };
  const record: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields) as [Field, unknown][]) {
    if (value === undefined || value === null) continue;
    record[key] = cleanString(String(value), FIELD_LIMITS[key]);
  }
  const attempt = context.job?.attempt;
  if (Number.isSafeInteger(attempt)) record.job_attempt = attempt;
  if (context.meta !== undefined) record.meta = cleanJson(context.meta, 0);
  if (context.reverts !== undefined && context.reverts.length > 0) {
    // At most 100 ids of at most 20 characters: 2.3 KB, well inside MAX_CONTEXT_JSON beside a full reason.
    record.reverts = context.reverts.slice(0, MAX_REVERTS).map((id) => cleanString(String(id), 20));
    if (context.reverts.length > MAX_REVERTS) record.reverts_total = context.reverts.length;
  }
  return record;
}

/** What the capture trigger reads of a comment's JSON, in bytes: a longer comment is ignored whole (no context). */
export const MAX_COMMENT_JSON_BYTES = 16384;

// Applied in turn until the comment fits: the fields that can be long lose their length, never the ids of who
// and which request, nor `reverts`. After the last step the comment is at most about 10 KB, whatever the values.
const SHRINK_STEPS: ((record: Record<string, unknown>) => void)[] = [
  (record) => {
    if (record.meta !== undefined) record.meta = { truncated: true };
  },
  (record) => {
    if (record.reason !== undefined) record.reason = cleanString(String(record.reason), 100);
  },
  (record) => {
    for (const key of ['route', 'path', 'user_agent', 'actor_label']) {
      if (record[key] !== undefined) record[key] = cleanString(String(record[key]), 100);
    }
  },
];

/**
 * The SQL comment that carries the context to the capture triggers. JSON with every "*" written as \u002a
 * (it can only occur inside strings), so the text can neither close the comment nor open a nested one
 * (PostgreSQL nests comments). Kept within MAX_CONTEXT_JSON characters and MAX_COMMENT_JSON_BYTES bytes as sent:
 * each "*" becomes six bytes and a character up to three, and the trigger drops a comment over its limit.
 */
export function contextComment(context: AuditContext): string {
  const record = contextRecord(context);
  let json = encoded(record);
  for (const shrink of SHRINK_STEPS) {
    if (json.length <= MAX_CONTEXT_JSON && Buffer.byteLength(json) <= MAX_COMMENT_JSON_BYTES) break;
    shrink(record);
    json = encoded(record);
  }
  return `${CONTEXT_COMMENT_PREFIX}${json}*/`;
}

/** A context record as a comment's JSON: every "*" written as \u002a, so that no value can close the comment. */
export function encoded(record: Record<string, unknown>): string {
  return JSON.stringify(record).replaceAll('*', '\\u002a');
}

const cache = new WeakMap<AuditScope, { version: number; spanId: string | undefined; comment: string }>();

/** contextComment() of a scope (with the active OpenTelemetry span, if any), once per state of the scope and span. */
export function scopeComment(scope: AuditScope): string {
  // Read first: asking the scope for its context is what notices a getter's new answer (and bumps the version).
  const context = scope.context;
  const trace = activeTraceIds();
  const cached = cache.get(scope);
  if (cached && cached.version === scope.version && cached.spanId === trace?.spanId) return cached.comment;
  const comment = contextComment(trace === undefined ? context : { ...context, trace });
  cache.set(scope, { version: scope.version, spanId: trace?.spanId, comment });
  return comment;
}

// jsonb rejects NUL and unpaired surrogates; a context must never make the trigger drop it.
function cleanString(value: string, limit: number): string {
  // Checked before copying: most values need neither fix.
  let clean = value.isWellFormed() ? value : value.toWellFormed();
  if (clean.includes('\u0000')) clean = clean.replaceAll('\u0000', '');
  return clean.length > limit ? `${clean.slice(0, limit - 1)}…` : clean;
}

const MAX_META_DEPTH = 8;

function cleanJson(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return cleanString(value, 2000);
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'boolean' || value === null) return value;
  if (typeof value === 'bigint') return value.toString();
  if (depth >= MAX_META_DEPTH) return '[too deep]';
  if (Array.isArray(value)) return value.slice(0, 100).map((item) => cleanJson(item, depth + 1));
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>).slice(0, 100)) {
      if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
      out[cleanString(key, 200)] = cleanJson(item, depth + 1);
    }
    return out;
  }
  return null;
}
