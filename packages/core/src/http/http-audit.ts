import type { AuditActor, AuditContextInput, AuditScope } from '../context/audit-context.js';
import { currentAuditScope, withAuditContext } from '../context/audit-context.js';
import { instrumentPg } from '../context/instrument-pg.js';
import type { ApiLogStats } from '../request-log/api-log-writer.js';
import { emptyApiLogStats } from '../request-log/api-log-writer.js';
import type { HttpAuditOptions } from './http-audit-options.js';
import { ParsedHttpAuditOptions } from './http-audit-options.js';
import { runEventsInScope } from './message-events.js';
import type { LogRequest } from './request-logger.js';
import { NOT_LOGGED, RequestLogger } from './request-logger.js';
import type { LoggedRequest, RequestFacts, RequestGetters, RequestMessages, RequestScope } from './request-types.js';
import { pathOf } from './url-path.js';

export interface HttpAuditParts {
  /** Opens an audit context per request (auditContext). */
  context: boolean;
  /** Writes the API log (apiLogger). */
  log: boolean;
}

// The scopes opened by auditContext(), by request, for apiLogger() installed separately: in a WeakMap rather than a
// property of the request (Express changes each request's prototype, after which V8 gives every property added to
// it a new hidden class), shared through the global symbol registry by every copy of this module in the process.
const SCOPES_KEY = Symbol.for('auditrum.http-scopes');
const registry = globalThis as { [SCOPES_KEY]?: unknown };
registry[SCOPES_KEY] ??= new WeakMap();
const shared = registry[SCOPES_KEY];
// Anything else found under the key (put there by other code) is left alone, and this copy keeps its own.
const scopes: WeakMap<object, RequestScope> = shared instanceof WeakMap ? shared : new WeakMap();

/**
 * The framework-free half of the middleware: request ids and the per-request audit context, and the API log
 * (RequestLogger) when asked for. An adapter translates its request object into RequestFacts and calls these; it
 * holds no SQL and no masking logic of its own.
 */
export class HttpAudit<Req> {
  readonly options: ParsedHttpAuditOptions<Req>;
  readonly #logger: RequestLogger<Req> | undefined;

  constructor(
    options: HttpAuditOptions<Req> | undefined,
    caller: string,
    parts: HttpAuditParts,
    defaultUser: (req: Req) => unknown,
  ) {
    this.options = new ParsedHttpAuditOptions(options, caller, defaultUser);
    if (parts.context) {
      instrumentPg();
      const pool = this.options.raw.pool ?? this.options.raw.auditrum?.pool;
      if (pool) instrumentPg(pool);
    }
    if (parts.log) this.#logger = new RequestLogger(this.options, caller);
  }

  /**
   * The id for a request: a valid one already set (pino-http's `req.id`), a valid inbound one if trusted (see
   * RequestIdOptions.trustInbound; `fromTrustedProxy` says whether the framework trusts the connection's peer as a
   * proxy), or a new one.
   */
  requestId(inbound: string | string[] | undefined, existing: unknown, fromTrustedProxy: boolean): string {
    return this.options.requestIds.resolve(inbound, existing, fromTrustedProxy);
  }

  /**
   * Runs `next` in the request's audit context (source `http`); `next` gets the scope to report late facts.
   * The getters run at each change, so auth (and routing) that run after this middleware are seen. The events of
   * the request's messages run in the context too (see runEventsInScope).
   */
  runInContext<T>(
    messages: RequestMessages,
    facts: RequestFacts,
    getters: RequestGetters,
    next: (scope: RequestScope) => T,
  ): T {
    const request: { scope?: AuditScope; setRoute(route: string | undefined): void; lastActor?: AuditActor } = {
      setRoute: (route) => {
        const scope = request.scope as AuditScope;
        if (route !== scope.input.route) scope.update({ route });
      },
    };
    const input: AuditContextInput = {
      source: 'http',
      requestId: facts.requestId,
      method: facts.method,
      path: this.options.masker.maskUrl(pathOf(facts.url)),
      // Asked by each statement, in its own async context: the answer is kept for the API row.
      actor: () => {
        const actor = getters.actor();
        if (actor !== undefined) request.lastActor = actor;
        return actor;
      },
    };
    if (getters.route) input.route = getters.route;
    if (facts.ip !== undefined) input.ip = facts.ip;
    if (facts.userAgent !== undefined) input.userAgent = facts.userAgent;
    return withAuditContext(input, () => {
      request.scope = currentAuditScope() as AuditScope;
      runEventsInScope(messages.req, messages.res, request.scope);
      return next(request as RequestScope);
    });
  }

  /** Starts logging one request (see RequestLogger.log); nothing when this middleware writes no API log. */
  log(request: LogRequest<Req>): LoggedRequest {
    return this.#logger?.log(request) ?? NOT_LOGGED;
  }

  /** Counts of the API log's queue. */
  stats(): ApiLogStats {
    return this.#logger?.stats() ?? emptyApiLogStats();
  }

  /** Writes what is queued, then stops logging (and ends the pool if it was made from DATABASE_URL). */
  async close(): Promise<void> {
    await this.#logger?.close();
  }
}

/** The scope a request's audit context opened, kept on the request for apiLogger() installed separately. */
export function rememberScope(target: object, scope: RequestScope): void {
  scopes.set(target, scope);
}

export function rememberedScope(target: object): RequestScope | undefined {
  return scopes.get(target);
}
