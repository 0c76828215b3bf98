import pg from 'pg';
import { currentAuditScope } from './audit-context.js';
import { CONTEXT_COMMENT_PREFIX, scopeComment } from './context-comment.js';

const INSTRUMENTED = Symbol.for('auditrum.pg-instrumented');

type QueryFunction = (this: unknown, config: unknown, ...rest: unknown[]) => unknown;
interface Instrumentable {
  query: QueryFunction;
  [INSTRUMENTED]?: true;
}

/**
 * Makes every query sent through `pg` inside an audit context start with the context comment that the
 * capture triggers read. Covers Client and Pool (and so every ORM built on them); idempotent.
 *
 * Pass a pool, or the `pg` module, when the application uses another copy of `pg` than @auditrum/core.
 */
export function instrumentPg(target: pg.Pool | typeof pg = pg): void {
  if ('Client' in target && 'Pool' in target && typeof target.Pool === 'function') {
    patch(target.Client.prototype as unknown as Instrumentable);
    patch(target.Pool.prototype as unknown as Instrumentable);
    return;
  }
  const pool = target as pg.Pool & { Client?: typeof pg.Client };
  patch(Object.getPrototypeOf(pool) as Instrumentable);
  // pg-pool keeps the Client class it creates connections with.
  if (pool.Client) patch(pool.Client.prototype as unknown as Instrumentable);
}

function patch(proto: Instrumentable): void {
  if (Object.hasOwn(proto, INSTRUMENTED)) return;
  const original = proto.query;
  // Pool.query hands the statement to a client from a callback that may run in another request's async
  // context (when it waited for a free connection), so the comment is added here, in the caller's context,
  // and the client's query leaves a statement that already has one alone.
  proto.query = function auditedQuery(this: unknown, config: unknown, ...rest: unknown[]) {
    const scope = currentAuditScope();
    return original.call(this, scope ? withComment(config, scopeComment(scope)) : config, ...rest);
  };
  Object.defineProperty(proto, INSTRUMENTED, { value: true });
}

interface QueryConfigLike {
  text?: unknown;
  name?: unknown;
  submit?: unknown;
}

// Transaction control never fires a trigger: sending it unchanged spares the client the string work.
const TRANSACTION_CONTROL = /^\s*(?:BEGIN|COMMIT|ROLLBACK|END|START\s|SAVEPOINT|RELEASE)\b/i;

function needsComment(text: string): boolean {
  return !text.startsWith(CONTEXT_COMMENT_PREFIX) && !TRANSACTION_CONTROL.test(text);
}

function withComment(config: unknown, comment: string): unknown {
  if (typeof config === 'string') {
    return needsComment(config) ? comment + config : config;
  }
  if (config === null || typeof config !== 'object') return config;
  const query = config as QueryConfigLike;
  if (typeof query.text !== 'string' || !needsComment(query.text)) return config;
  if (typeof query.submit === 'function') {
    // A Submittable (pg.Query, pg-cursor, pg-query-stream) is used as it is: change it in place.
    query.text = comment + query.text;
    return config;
  }
  // A named statement is prepared once per connection with its first text; the comment changes with the
  // context, so the statement goes unnamed (parsed each time) rather than fail or lose its context.
  const { name: _name, ...unnamed } = query as QueryConfigLike & Record<string, unknown>;
  return { ...unnamed, text: comment + query.text };
}
