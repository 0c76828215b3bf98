import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { AuditActor, AuditContextInput, AuditScope } from '../context/audit-context.js';
import { currentAuditScope, withAuditContext } from '../context/audit-context.js';
import { instrumentPg } from '../context/instrument-pg.js';
import type { ApiLogStats } from './api-log-writer.js';
import { ApiLogWriter, emptyApiLogStats } from './api-log-writer.js';
import type { ApiRequestRecord, StoredJson } from './api-request-record.js';
import { JsonText } from './api-request-record.js';
import { BodyCapture, tapRequestBody, tapResponseBody } from './body-tap.js';
import { storedBody } from './body-value.js';
import { cleanCapped } from './clean-text.js';
import type { HttpAuditOptions } from './http-audit-options.js';
import { ParsedHttpAuditOptions } from './http-audit-options.js';

/** What an adapter knows about a request when it starts. */
export interface RequestFacts {
  requestId: string;
  method: string;
  /** The URL as received, path and query string (before any mount rewrote it). */
  url: string;
  /** The client address, as the framework's trust-proxy setting decides it. */
  ip: string | undefined;
  userAgent: string | undefined;
}

/** What an adapter can tell once the request is over. */
export interface RequestOutcome {
  /** The route pattern, e.g. `/orders/:id`, if the framework matched one. */
  route(): string | undefined;
  /** The error that failed the request, if the adapter saw one. */
  error(): unknown;
  /**
   * The body as the app's body parser left it (`req.body`, `ctx.request.body`): stored, masked, when the body was
   * read before the middleware could see it (a body parser installed before it).
   */
  parsedBody?(): unknown;
}

/** The audit scope of one request, for facts learnt after it opened. */
export interface RequestScope {
  readonly scope: AuditScope;
  /** Sets the route pattern, for an adapter that is told of the match rather than asking (see RequestGetters). */
  setRoute(route: string | undefined): void;
}

/** Facts an adapter can look up whenever a change needs them: asked at each change, never watched. */
export interface RequestGetters {
  actor(): AuditActor | undefined;
  route?(): string | undefined;
}

export interface HttpAuditParts {
  /** Opens an audit context per request (auditContext). */
  context: boolean;
  /** Writes the API log (apiLogger). */
  log: boolean;
}

const CONTEXT_SCOPE = Symbol.for('auditrum.http-scope');

/**
 * The framework-free half of the middleware: request ids, the per-request audit context, and the API log with
 * body capture, masking and the batch writer. An adapter translates its request object into RequestFacts and
 * calls these; it holds no SQL and no masking logic of its own.
 */
export class HttpAudit<Req> {
  readonly options: ParsedHttpAuditOptions<Req>;
  readonly #writer: ApiLogWriter | undefined;
  readonly #ownedPool: { end(): Promise<void> } | undefined;
  #closing: Promise<void> | undefined;

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
    if (parts.log) {
      const { pool, schema, owned } = this.options.database(caller);
      if (owned) this.#ownedPool = pool;
      this.#writer = new ApiLogWriter(pool, schema, this.options.raw.queue ?? {}, this.options.onError);
    }
  }

  /** The id for a request: a valid one already set (pino-http's `req.id`), a valid inbound one, or a new one. */
  requestId(inbound: string | string[] | undefined, existing?: unknown): string {
    return this.options.requestIds.resolve(inbound, existing);
  }

  /**
   * Runs `next` in the request's audit context (source `http`); `next` gets the scope to report late facts.
   * The getters run at each change, so auth (and routing) that run after this middleware are seen.
   */
  runInContext<T>(facts: RequestFacts, getters: RequestGetters, next: (scope: RequestScope) => T): T {
    const input: AuditContextInput = {
      source: 'http',
      requestId: facts.requestId,
      method: facts.method,
      path: pathOf(facts.url),
      actor: getters.actor,
    };
    if (getters.route) input.route = getters.route;
    if (facts.ip !== undefined) input.ip = facts.ip;
    if (facts.userAgent !== undefined) input.userAgent = facts.userAgent;
    return withAuditContext(input, () => {
      const scope = currentAuditScope() as AuditScope;
      return next({
        scope,
        setRoute: (route) => {
          if (route !== scope.input.route) scope.update({ route });
        },
      });
    });
  }

  /**
   * Starts logging one request: taps the bodies it will store and, when the response closes (sent or aborted),
   * builds the masked row and queues it. `scope` (from runInContext) gives the actor as the changes saw it.
   */
  log(
    req: IncomingMessage,
    res: ServerResponse,
    hostReq: Req,
    facts: RequestFacts,
    outcome: RequestOutcome,
    scope?: AuditScope,
  ): void {
    const writer = this.#writer;
    if (!writer) return;
    const options = this.options;
    const path = pathOf(facts.url);
    if (options.isExcluded(path)) return;
    if (options.ignore) {
      try {
        if (options.ignore(hostReq)) return;
      } catch (error) {
        options.onError(error);
      }
    }
    const requestedAt = new Date();
    const started = performance.now();
    const { bodies } = options;
    const withBodies = bodies.get || (facts.method !== 'GET' && facts.method !== 'HEAD');
    // An HTTP/1 request without Content-Length or Transfer-Encoding has no body: nothing to tap.
    const requestBody =
      withBodies && bodies.request && (req.httpVersionMajor > 1 || announcesBody(req))
        ? tapRequestBody(req, bodies.maxBytes)
        : undefined;
    const responseBody = withBodies && bodies.response ? tapResponseBody(res, bodies.maxBytes) : undefined;
    res.once('close', () => {
      try {
        writer.push(
          this.#record(req, res, hostReq, facts, outcome, scope, {
            requestedAt,
            durationMs: performance.now() - started,
            requestBody,
            responseBody,
            path,
          }),
        );
      } catch (error) {
        options.onError(error);
      }
    });
  }

  /** Counts of the API log's queue. */
  stats(): ApiLogStats {
    return this.#writer?.stats() ?? emptyApiLogStats();
  }

  /** Writes what is queued, then stops logging (and ends the pool if it was made from DATABASE_URL). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#writer?.close();
      await this.#ownedPool?.end();
    })();
    return this.#closing;
  }

  #requestBody(req: IncomingMessage, capture: BodyCapture, outcome: RequestOutcome): StoredJson {
    const { masker } = this.options;
    const contentType = req.headers['content-type'];
    if (capture.bytes === 0 && outcome.parsedBody) {
      // Read before the middleware saw it: what the parser made of it (raw and text parsers give bytes or text).
      const parsed = outcome.parsedBody();
      if (typeof parsed === 'string' || Buffer.isBuffer(parsed)) {
        const parsedCapture = new BodyCapture(this.options.bodies.maxBytes);
        parsedCapture.add(parsed);
        return storedBody(parsedCapture, contentType, masker, { declaredBody: announcesBody(req) });
      }
      const empty =
        parsed === undefined ||
        (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && Object.keys(parsed).length === 0);
      if (!empty) return masker.maskJson(parsed);
    }
    return storedBody(capture, contentType, masker, { declaredBody: announcesBody(req) });
  }

  #record(
    req: IncomingMessage,
    res: ServerResponse,
    hostReq: Req,
    facts: RequestFacts,
    outcome: RequestOutcome,
    scope: AuditScope | undefined,
    seen: {
      requestedAt: Date;
      durationMs: number;
      requestBody: BodyCapture | undefined;
      responseBody: BodyCapture | undefined;
      path: string;
    },
  ): ApiRequestRecord {
    const { masker } = this.options;
    const aborted = !res.writableFinished;
    const actor = scope ? scope.context.actor : this.options.getActor(hostReq);
    const error = errorMessage(outcome.error());
    const route = outcome.route();
    const queryStart = facts.url.indexOf('?');
    return {
      requestedAt: seen.requestedAt,
      requestId: facts.requestId,
      method: cleanCapped(facts.method, 32),
      path: cleanCapped(seen.path, 2048),
      route: route === undefined ? null : cleanCapped(route, 512),
      query: queryStart < 0 ? null : masker.maskQuery(facts.url.slice(queryStart + 1)),
      status: res.headersSent || !aborted ? res.statusCode : null,
      durationMs: seen.durationMs,
      aborted,
      actorId: actor ? cleanCapped(String(actor.id), 256) : null,
      actorLabel: actor?.label === undefined ? null : cleanCapped(String(actor.label), 256),
      ip: facts.ip === undefined ? null : cleanCapped(facts.ip, 64),
      userAgent: facts.userAgent === undefined ? null : cleanCapped(facts.userAgent, 512),
      requestHeaders: new JsonText(masker.headersJson(req.headers)),
      responseHeaders: res.headersSent ? new JsonText(masker.headersJson(res.getHeaders())) : null,
      requestBody: seen.requestBody ? this.#requestBody(req, seen.requestBody, outcome) : null,
      responseBody: seen.responseBody
        ? storedBody(seen.responseBody, contentTypeOf(res), masker, { declaredBody: false })
        : null,
      error: error === undefined ? null : cleanCapped(error, 2000),
    };
  }
}

/** The scope a request's audit context opened, kept on the request for apiLogger() installed separately. */
export function rememberScope(target: object, scope: AuditScope): void {
  Object.defineProperty(target, CONTEXT_SCOPE, { value: scope, configurable: true });
}

export function rememberedScope(target: object): AuditScope | undefined {
  return (target as { [CONTEXT_SCOPE]?: AuditScope })[CONTEXT_SCOPE];
}

function pathOf(url: string): string {
  const queryStart = url.indexOf('?');
  return queryStart < 0 ? url : url.slice(0, queryStart);
}

function announcesBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

function contentTypeOf(res: ServerResponse): string | undefined {
  const value = res.getHeader('content-type');
  return value === undefined ? undefined : String(value);
}

function errorMessage(error: unknown): string | undefined {
  if (error === undefined || error === null) return undefined;
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') {
    return (error as { message: string }).message;
  }
  return String(error);
}
