import process from 'node:process';
import { CONTEXT_COMMENT_PREFIX, encoded, MAX_COMMENT_JSON_BYTES } from './context-comment.js';

/**
 * The environment variable that gives a whole process its audit context: a JSON object of the stored shape
 * (`actor_id`, `reason`, `source`, …), which `auditrum exec` sets for the command it runs. A statement sent outside
 * any audit scope carries it as its context comment; a scope (a request, a job) always wins over it.
 */
export const CONTEXT_ENV = 'AUDITRUM_CONTEXT';

/** The code of the warning a bad AUDITRUM_CONTEXT gives, once per value. */
export const BAD_CONTEXT_ENV_WARNING = 'AUDITRUM_BAD_CONTEXT_ENV';

// Parsed once per value of the variable: the instrumentation asks at every statement sent outside a scope.
let last: { raw: string | undefined; comment: string | undefined } | undefined;

/** The context comment of a statement sent outside any audit scope: AUDITRUM_CONTEXT's, or none when it is unset. */
export function processContextComment(): string | undefined {
  const raw = process.env[CONTEXT_ENV];
  if (last === undefined || last.raw !== raw) {
    last = { raw, comment: raw === undefined || raw === '' ? undefined : commentOf(raw) };
  }
  return last.comment;
}

function commentOf(raw: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return rejected('is not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return rejected('is not a JSON object');
  const json = encoded(value as Record<string, unknown>);
  if (Buffer.byteLength(json) > MAX_COMMENT_JSON_BYTES) {
    return rejected(`is over ${MAX_COMMENT_JSON_BYTES} bytes as JSON`);
  }
  return `${CONTEXT_COMMENT_PREFIX}${json}*/`;
}

// A bad value must not stop the program's writes, nor pass unnoticed: it is left out with a warning.
function rejected(problem: string): undefined {
  process.emitWarning(
    `auditrum: ${CONTEXT_ENV} ${problem}; statements outside an audit context carry no context (it is left out)`,
    { code: BAD_CONTEXT_ENV_WARNING },
  );
  return undefined;
}
