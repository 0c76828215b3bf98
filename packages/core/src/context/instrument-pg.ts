import pg from 'pg';
import { bindToAuditScope, currentAuditScope, outsideAuditScope } from './audit-context.js';
import { CONTEXT_COMMENT_PREFIX, scopeComment } from './context-comment.js';
import { noteInstrumentedClient } from './instrumented-clients.js';
import { instrumentEveryLoadedPg } from './pg-copies.js';
import { keepsStatementNames } from './prepared-statement-context.js';
import { processContextComment } from './process-context.js';
import type { TransactionStatusSource } from './setting-context-query.js';
import { SettingContextQuery } from './setting-context-query.js';

const INSTRUMENTED = Symbol.for('auditrum.pg-instrumented');

type Method = (this: unknown, ...args: unknown[]) => unknown;
interface Instrumentable {
  query: Method;
  connect?: Method;
  newClient?: Method;
  _acquireClient?: Method;
  [INSTRUMENTED]?: true;
}

/**
 * Makes every query sent through `pg` inside an audit context start with the context comment that the
 * capture triggers read. Covers Client and Pool (and so every ORM built on them); idempotent.
 *
 * With no argument: @auditrum/core's own `pg`, every other copy already loaded (pg-promise pins its own), and
 * every copy loaded later. Pass a pool or a `pg` module to instrument that one only.
 */
export function instrumentPg(target?: pg.Pool | typeof pg): void {
  if (target === undefined) {
    instrumentPgModule(pg);
    instrumentEveryLoadedPg(instrumentPgModule);
    return;
  }
  if ('Client' in target && 'Pool' in target && typeof target.Pool === 'function') {
    instrumentPgModule(target);
    return;
  }
  const pool = target as pg.Pool & { Client?: typeof pg.Client };
  patchPool(Object.getPrototypeOf(pool) as Instrumentable);
  // pg-pool keeps the Client class it creates connections with.
  if (pool.Client) patchClient(pool.Client.prototype as unknown as Instrumentable);
  noteInstrumentedClient();
}

/** Instruments one copy of the `pg` module (its Client and Pool classes). */
export function instrumentPgModule(module: typeof pg): void {
  patchClient(module.Client.prototype as unknown as Instrumentable);
  patchPool(module.Pool.prototype as unknown as Instrumentable);
  noteInstrumentedClient();
}

function patchClient(proto: Instrumentable): void {
  if (Object.hasOwn(proto, INSTRUMENTED)) return;
  patchQuery(proto);
  // pg emits a connection's events (a Query's or a cursor's rows, notifications) from its socket, in the context
  // the socket was opened in: opened in no scope, they never run in the scope of the request that happened to
  // connect it. The connect callback itself runs in its caller's scope.
  const connect = proto.connect;
  if (connect) {
    proto.connect = function auditedConnect(this: unknown, ...args: unknown[]) {
      const callback = typeof args[0] === 'function' ? bindToAuditScope(args[0] as Method) : undefined;
      return outsideAuditScope(() => (callback ? connect.call(this, callback) : connect.call(this)));
    };
  }
  Object.defineProperty(proto, INSTRUMENTED, { value: true });
}

/**
 * A pool hands a waiting caller its connection from inside another caller's release(), so everything that
 * runs on from a pool's callback would otherwise run in the releasing request's context: a statement sent
 * there (by Pool.query, or by code given to connect()) would carry that request's actor. Here callbacks run in
 * their caller's scope, and the pool's own work (connecting, `connect`/`acquire` listeners) in none.
 */
function patchPool(proto: Instrumentable): void {
  if (Object.hasOwn(proto, INSTRUMENTED)) return;
  // Pool.query takes the comment in the caller's context, before it waits for a connection.
  patchQuery(proto);
  const connect = proto.connect;
  if (connect) {
    proto.connect = function auditedConnect(this: unknown, ...args: unknown[]) {
      const callback = args[0];
      return typeof callback === 'function'
        ? connect.call(this, bindToAuditScope(callback as Method))
        : connect.call(this);
    };
  }
  for (const name of ['newClient', '_acquireClient'] as const) {
    const internal = proto[name];
    if (typeof internal !== 'function') continue;
    proto[name] = function outsideScope(this: unknown, ...args: unknown[]) {
      return outsideAuditScope(() => internal.apply(this, args));
    };
  }
  Object.defineProperty(proto, INSTRUMENTED, { value: true });
}

// The comment is added in the caller's context; a callback (pg calls it from the connection's socket, in the
// context of whoever opened the connection) is bound to the caller's scope, so the statements it sends do too.
function patchQuery(proto: Instrumentable): void {
  const original = proto.query;
  proto.query = function auditedQuery(this: unknown, config: unknown, ...rest: unknown[]) {
    const last = rest.length - 1;
    if (typeof rest[last] === 'function') rest[last] = bindToAuditScope(rest[last] as Method);
    // Pool.query hands the query it built to the connection's query(): already carrying its context.
    if (config instanceof SettingContextQuery) {
      config.sentBy(this as TransactionStatusSource);
      return original.call(this, config, ...rest);
    }
    const scope = currentAuditScope();
    // Outside any scope, the process's own context (AUDITRUM_CONTEXT, which `auditrum exec` sets), if it has one.
    const comment = scope ? scopeComment(scope) : processContextComment();
    if (comment !== undefined && keepsStatementNames() && isNamedStatement(config)) {
      return sendWithSetting(original, this, config, rest, comment.slice(CONTEXT_COMMENT_PREFIX.length, -'*/'.length));
    }
    return original.call(
      this,
      comment === undefined ? withBoundCallback(config) : withComment(config, comment),
      ...rest,
    );
  };
}

interface QueryConfigLike {
  text?: unknown;
  name?: unknown;
  submit?: unknown;
  callback?: unknown;
  values?: unknown;
  rows?: unknown;
}

// Transaction control that never fires a trigger: sending it unchanged spares the client the string work. COMMIT
// and END are not in it: deferred constraint triggers run at COMMIT, and their writes are the transaction's.
const TRANSACTION_CONTROL = /^\s*(?:BEGIN|ROLLBACK|START\s|SAVEPOINT|RELEASE)\b/i;

function needsComment(text: string): boolean {
  return !text.startsWith(CONTEXT_COMMENT_PREFIX) && !TRANSACTION_CONTROL.test(text);
}

/** A statement prepared under a name, with its text, read whole (not a page at a time through a portal). */
function isNamedStatement(config: unknown): config is QueryConfigLike & { name: string; text: string } {
  if (config === null || typeof config !== 'object') return false;
  const query = config as QueryConfigLike;
  return (
    typeof query.name === 'string' &&
    query.name !== '' &&
    typeof query.text === 'string' &&
    query.text.trim() !== '' &&
    needsComment(query.text) &&
    query.submit === undefined &&
    query.rows === undefined
  );
}

/**
 * Sends a named statement with its context as a setting (see SettingContextQuery), answering as query() does: a
 * promise of the result, or the result to the callback (the last argument or the config's own).
 */
function sendWithSetting(
  original: Method,
  target: unknown,
  config: QueryConfigLike & { name: string; text: string },
  rest: unknown[],
  context: string,
): unknown {
  const last = rest.at(-1);
  const callback =
    typeof last === 'function'
      ? last
      : typeof config.callback === 'function'
        ? bindToAuditScope(config.callback as Method)
        : undefined;
  const values = Array.isArray(rest[0]) ? rest[0] : config.values;
  const query = new SettingContextQuery({ ...config, values, callback: undefined } as pg.QueryConfig, context);
  query.sentBy(target as TransactionStatusSource);
  if (callback) {
    original.call(target, query, callback);
    return undefined;
  }
  return new Promise((resolve, reject) => {
    original.call(target, query, (error: Error | null, result: unknown) => (error ? reject(error) : resolve(result)));
  });
}

/** A query config whose own `callback` (pg's `{ text, callback }` form) runs in the caller's scope. */
function withBoundCallback(config: unknown): unknown {
  if (config === null || typeof config !== 'object') return config;
  const query = config as QueryConfigLike;
  if (typeof query.callback !== 'function' || typeof query.submit === 'function') return config;
  return { ...query, callback: bindToAuditScope(query.callback as Method) };
}

function withComment(config: unknown, comment: string): unknown {
  if (typeof config === 'string') {
    return needsComment(config) ? comment + config : config;
  }
  if (config === null || typeof config !== 'object') return config;
  const query = config as QueryConfigLike;
  if (typeof query.text !== 'string' || !needsComment(query.text)) return withBoundCallback(config);
  if (typeof query.submit === 'function') {
    // A Submittable (pg.Query, pg-cursor, pg-query-stream) is used as it is: change it in place, and unname it for
    // the reason below (a pg.Query given a name would otherwise fail in the next context on its connection).
    query.text = comment + query.text;
    if (typeof query.name === 'string') query.name = undefined;
    return config;
  }
  // A named statement is prepared once per connection with its first text; the comment changes with the
  // context, so the statement goes unnamed (parsed each time) rather than fail or lose its context; with
  // preparedStatements: 'setting' it keeps its name and the context goes as a setting (sendWithSetting).
  const { name: _name, ...unnamed } = withBoundCallback(query) as QueryConfigLike & Record<string, unknown>;
  return { ...unnamed, text: comment + query.text };
}
