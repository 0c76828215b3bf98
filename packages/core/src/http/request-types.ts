import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditActor, AuditScope } from '../context/audit-context.js';

/** Node's own objects of a request, under the framework's (Express's req, Koa's ctx.req, Fastify's request.raw). */
export interface RequestMessages {
  req: IncomingMessage;
  res: ServerResponse;
}

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

/** Facts an adapter can look up whenever a change needs them: asked at each change, never watched. */
export interface RequestGetters {
  actor(): AuditActor | undefined;
  route?(): string | undefined;
}
