import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { BodyCapture, tapRequestBody, tapResponseBody } from '../bodies/body-tap.js';
import { storedBody, storedParsedBody } from '../bodies/body-value.js';
import { cleanCapped } from '../bodies/clean-text.js';
import type { StoredJson } from '../bodies/stored-json.js';
import { JsonText } from '../bodies/stored-json.js';
import type { ApiLogStats } from '../request-log/api-log-writer.js';
import { ApiLogWriter } from '../request-log/api-log-writer.js';
import type { ApiRequestRecord } from '../request-log/api-request-record.js';
import type { ParsedHttpAuditOptions } from './http-audit-options.js';
import type { LoggedRequest, RequestFacts, RequestOutcome, RequestScope } from './request-types.js';
import { pathOf } from './url-path.js';

/**
 * The longest the row of an aborted request waits for the app to finish with it (a handler that never ends the
 * response would otherwise hold it forever).
 */
export const ABORTED_REQUEST_WAIT_MS = 30_000;

/** One request to log, as the adapter hands it over. */
export interface LogRequest<Req> {
  req: IncomingMessage;
  res: ServerResponse;
  /** The framework's request (Express) or context (Koa), as the hooks (`ignore`, `getActor`) take it. */
  hostReq: Req;
  facts: RequestFacts;
  outcome: RequestOutcome;
  /** The request's audit scope (from HttpAudit.runInContext), when the context middleware runs too. */
  scope?: RequestScope | undefined;
}

/** The handle of a request that is not logged (excluded, ignored, or no API log). */
export const NOT_LOGGED: LoggedRequest = { settled() {} };

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

/**
 * The API-request log of the middleware: taps the bodies to store, builds the masked row when the response closes
 * and queues it on the batch writer (which owns the SQL).
 */
export class RequestLogger<Req> {
  readonly #options: ParsedHttpAuditOptions<Req>;
  readonly #writer: ApiLogWriter;
  readonly #ownedPool: { end(): Promise<void> } | undefined;
  // Rows of aborted requests waiting for the app to finish with them; written at once on close().
  readonly #waiting = new Set<() => void>();
  #closing: Promise<void> | undefined;

  constructor(options: ParsedHttpAuditOptions<Req>, caller: string) {
    this.#options = options;
    const { pool, schema, owned } = options.database(caller);
    if (owned) this.#ownedPool = pool;
    this.#writer = new ApiLogWriter(pool, schema, options.raw.queue ?? {}, options.onError);
  }

  /**
   * Starts logging one request: taps the bodies it will store and, when the response closes (sent or aborted),
   * builds the masked row and queues it. `scope` (from HttpAudit.runInContext) gives the actor as the changes saw it.
   *
   * A request the client aborted while the app still works on it (auth waiting for a pooled connection, a slow
   * handler) is written when the app is done with it: when it ends the response, when the adapter calls
   * `settled()`, or after ABORTED_REQUEST_WAIT_MS. Its actor, route and error are then the ones its changes got.
   */
  log(request: LogRequest<Req>): LoggedRequest {
    const { req, res, hostReq, facts } = request;
    const writer = this.#writer;
    const options = this.#options;
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
          writer.push(this.#record(request, ending, requestBody));
        } catch (error) {
          options.onError(error);
        }
      };
      // Sent, or aborted after the app ended the response or settled: nothing more will happen to it. Rows waiting for
      // handlers that never answer are held no more than the queue's maxRows: past that, one is written at once.
      if (!ending.aborted || appDone || res.writableEnded || this.#waiting.size >= writer.maxRows) write();
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
    return this.#writer.stats();
  }

  /** Writes what is queued, then stops logging (and ends the pool if it was made from DATABASE_URL). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const writeNow of [...this.#waiting]) writeNow();
      await this.#writer.close();
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
    const { masker } = this.#options;
    const aborted = !res.writableFinished;
    return {
      requestedAt,
      durationMs,
      aborted,
      status: res.headersSent || !aborted ? res.statusCode : null,
      responseHeaders: res.headersSent ? new JsonText(masker.headersJson(res.getHeaders())) : null,
      responseBody: responseBody
        ? storedBody(responseBody, contentTypeOf(res), masker, {
            declaredBody: false,
            contentEncoding: res.getHeader('content-encoding'),
          })
        : null,
      path,
    };
  }

  #requestBody(req: IncomingMessage, capture: BodyCapture, outcome: RequestOutcome): StoredJson {
    const { masker } = this.#options;
    const contentType = req.headers['content-type'];
    if (capture.bytes === 0 && outcome.parsedBody) {
      // Read before the middleware saw it: what the parser made of it (raw and text parsers give bytes or text).
      const parsed = outcome.parsedBody();
      if (typeof parsed === 'string' || Buffer.isBuffer(parsed)) {
        const parsedCapture = new BodyCapture(this.#options.bodies.maxBytes);
        parsedCapture.add(parsed);
        return storedBody(parsedCapture, contentType, masker, { declaredBody: announcesBody(req) });
      }
      const empty =
        parsed === undefined ||
        (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && Object.keys(parsed).length === 0);
      if (!empty) return storedParsedBody(parsed, masker, this.#options.bodies.maxBytes, declaredLength(req));
    }
    return storedBody(capture, contentType, masker, {
      declaredBody: announcesBody(req),
      contentEncoding: req.headers['content-encoding'],
    });
  }

  #record(
    { req, hostReq, facts, outcome, scope }: LogRequest<Req>,
    ending: RequestEnding,
    requestBody: BodyCapture | undefined,
  ): ApiRequestRecord {
    const { masker } = this.#options;
    // As the changes saw it: the getters asked now, else the last actor a statement was issued with.
    const actor = scope ? (scope.scope.context.actor ?? scope.lastActor) : this.#options.getActor(hostReq);
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

function announcesBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

function declaredLength(req: IncomingMessage): number | undefined {
  const length = Number(req.headers['content-length']);
  return Number.isSafeInteger(length) && length > 0 ? length : undefined;
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
