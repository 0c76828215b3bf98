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
  /**
   * The last actor a statement of the request was issued with, as the actor getter gave it there (in the
   * statement's own async context): what the API row records when the getter gives none by the request's end.
   */
  readonly lastActor: AuditActor | undefined;
}

/** What the log of one request needs to hear from the adapter. */
export interface LoggedRequest {
  /**
   * The app is done with the request: its middleware chain settled. The row of a request the client aborted
   * waits for this (or for the app to end the response) so that it records what the app did after the abort.
   */
  settled(): void;
}

/**
 * The longest the row of an aborted request waits for the app to finish with it (a handler that never ends the
 * response would otherwise hold it forever).
 */
export const ABORTED_REQUEST_WAIT_MS = 30_000;

const NOT_LOGGED: LoggedRequest = { settled() {} };

/** What is fixed when the response closes: sent, or aborted by the client. */
interface RequestEnding {
  requestedAt: Date;
  durationMs: number;
  aborted: boolean;
  status: number | null;
  responseHeaders: StoredJson;
  responseBody: StoredJson;
  path: string;
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
  // Rows of aborted requests waiting for the app to finish with them; written at once on close().
  readonly #waiting = new Set<() => void>();
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
      return next(request as RequestScope);
    });
  }

  /**
   * Starts logging one request: taps the bodies it will store and, when the response closes (sent or aborted),
   * builds the masked row and queues it. `scope` (from runInContext) gives the actor as the changes saw it.
   *
   * A request the client aborted while the app still works on it (auth waiting for a pooled connection, a slow
   * handler) is written when the app is done with it: when it ends the response, when the adapter calls
   * `settled()`, or after ABORTED_REQUEST_WAIT_MS. Its actor, route and error are then the ones its changes got.
   */
  log(
    req: IncomingMessage,
    res: ServerResponse,
    hostReq: Req,
    facts: RequestFacts,
    outcome: RequestOutcome,
    scope?: RequestScope,
  ): LoggedRequest {
    const writer = this.#writer;
    if (!writer) return NOT_LOGGED;
    const options = this.options;
    const path = pathOf(facts.url);
    if (options.isExcluded(path)) return NOT_LOGGED;
    if (options.ignore) {
      try {
        if (options.ignore(hostReq)) return NOT_LOGGED;
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
    let appDone = false;
    let whenAppDone: (() => void) | undefined;
    res.once('close', () => {
      let ending: RequestEnding;
      try {
        ending = this.#ending(res, responseBody, requestedAt, performance.now() - started, path);
      } catch (error) {
        options.onError(error);
        return;
      }
      const write = () => {
        try {
          writer.push(this.#record(req, hostReq, facts, outcome, scope, ending, requestBody));
        } catch (error) {
          options.onError(error);
        }
      };
      // Sent, or aborted after the app ended the response or settled: nothing more will happen to it.
      if (!ending.aborted || appDone || res.writableEnded) write();
      else whenAppDone = this.#afterApp(res, write);
    });
    return {
      settled: () => {
        appDone = true;
        whenAppDone?.();
      },
    };
  }

  /** Counts of the API log's queue. */
  stats(): ApiLogStats {
    return this.#writer?.stats() ?? emptyApiLogStats();
  }

  /** Writes what is queued, then stops logging (and ends the pool if it was made from DATABASE_URL). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const writeNow of [...this.#waiting]) writeNow();
      await this.#writer?.close();
      await this.#ownedPool?.end();
    })();
    return this.#closing;
  }

  /**
   * Calls `write` once, when the app is done with an aborted request: it ended the response (its handler's
   * changes are behind it), the returned function is called (the adapter saw the chain settle), or the wait is over.
   */
  #afterApp(res: ServerResponse, write: () => void): () => void {
    const end = res.end;
    const endThenLog = function endThenLog(this: ServerResponse, ...args: unknown[]): ServerResponse {
      const result = (end as (...args: unknown[]) => ServerResponse).apply(this, args);
      once();
      return result;
    } as typeof res.end;
    const once = (): void => {
      if (!this.#waiting.delete(once)) return;
      clearTimeout(timer);
      // Unless something wrapped it again since.
      if (res.end === endThenLog) res.end = end;
      write();
    };
    res.end = endThenLog;
    this.#waiting.add(once);
    const timer = setTimeout(once, ABORTED_REQUEST_WAIT_MS);
    // A row waiting for a stuck handler must not keep the process alive: close() writes it.
    timer.unref();
    return once;
  }

  /** What the row says of the response, fixed when it closes: later writes to an aborted response do not count. */
  #ending(
    res: ServerResponse,
    responseBody: BodyCapture | undefined,
    requestedAt: Date,
    durationMs: number,
    path: string,
  ): RequestEnding {
    const { masker } = this.options;
    const aborted = !res.writableFinished;
    return {
      requestedAt,
      durationMs,
      aborted,
      status: res.headersSent || !aborted ? res.statusCode : null,
      responseHeaders: res.headersSent ? new JsonText(masker.headersJson(res.getHeaders())) : null,
      responseBody: responseBody ? storedBody(responseBody, contentTypeOf(res), masker, { declaredBody: false }) : null,
      path,
    };
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
    hostReq: Req,
    facts: RequestFacts,
    outcome: RequestOutcome,
    scope: RequestScope | undefined,
    ending: RequestEnding,
    requestBody: BodyCapture | undefined,
  ): ApiRequestRecord {
    const { masker } = this.options;
    // As the changes saw it: the getters asked now, else the last actor a statement was issued with.
    const actor = scope ? (scope.scope.context.actor ?? scope.lastActor) : this.options.getActor(hostReq);
    const error = errorMessage(outcome.error());
    const route = outcome.route();
    const queryStart = facts.url.indexOf('?');
    return {
      requestedAt: ending.requestedAt,
      requestId: facts.requestId,
      method: cleanCapped(facts.method, 32),
      // Path parameters (`;jsessionid=…`) masked like the query's.
      path: cleanCapped(masker.maskUrl(ending.path), 2048),
      route: route === undefined ? null : cleanCapped(route, 512),
      query: queryStart < 0 ? null : masker.maskQuery(facts.url.slice(queryStart + 1)),
      status: ending.status,
      durationMs: ending.durationMs,
      aborted: ending.aborted,
      actorId: actor ? cleanCapped(String(actor.id), 256) : null,
      actorLabel: actor?.label === undefined ? null : cleanCapped(String(actor.label), 256),
      ip: facts.ip === undefined ? null : cleanCapped(facts.ip, 64),
      userAgent: facts.userAgent === undefined ? null : cleanCapped(facts.userAgent, 512),
      requestHeaders: new JsonText(masker.headersJson(req.headers)),
      responseHeaders: ending.responseHeaders,
      requestBody: requestBody ? this.#requestBody(req, requestBody, outcome) : null,
      responseBody: ending.responseBody,
      error: error === undefined ? null : cleanCapped(error, 2000),
    };
  }
}

/** The scope a request's audit context opened, kept on the request for apiLogger() installed separately. */
export function rememberScope(target: object, scope: RequestScope): void {
  Object.defineProperty(target, CONTEXT_SCOPE, { value: scope, configurable: true });
}

export function rememberedScope(target: object): RequestScope | undefined {
  return (target as { [CONTEXT_SCOPE]?: RequestScope })[CONTEXT_SCOPE];
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
