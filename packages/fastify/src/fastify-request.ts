import type { HttpAudit, RequestFacts } from '@auditrum/core/http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const FAILURE = Symbol('auditrum.failure');

/** What the core needs to know about a Fastify request when it starts. */
export function requestFacts(request: FastifyRequest, requestId: string): RequestFacts {
  return {
    requestId,
    method: request.method,
    // originalUrl: the URL as received, before a rewriteUrl changed it.
    url: request.originalUrl ?? request.url,
    ip: clientIp(request),
    userAgent: request.headers['user-agent'],
  };
}

/**
 * Makes Auditrum's id Fastify's own: `request.id`, and the `reqId` of Fastify's log lines, come from the
 * `requestId` options (header, trustInbound, pattern, generate). Returns the header Fastify itself reads first
 * when its `requestIdHeader` option is set (Fastify 4 reads `request-id` by default), for assignRequestId().
 */
export function generateRequestIds(fastify: FastifyInstance, audit: HttpAudit<FastifyRequest>): string | undefined {
  const { header } = audit.options.requestIds;
  fastify.setGenReqId((req) => audit.requestId(req.headers[header]));
  const fastifyHeader: unknown = fastify.initialConfig.requestIdHeader;
  return typeof fastifyHeader === 'string' && fastifyHeader !== '' ? fastifyHeader.toLowerCase() : undefined;
}

/**
 * Settles the request's id and echoes it: `request.id` as Fastify made it (with generateRequestIds(), Auditrum's)
 * or as a hook before this one set it, if valid. A value Fastify took unchecked from its own `requestIdHeader` is
 * an inbound id like any other: used only if `trustInbound` and valid.
 */
export function assignRequestId(
  audit: HttpAudit<FastifyRequest>,
  request: FastifyRequest,
  reply: FastifyReply,
  fastifyHeader: string | undefined,
): string {
  const ids = audit.options.requestIds;
  const fromFastifyHeader = fastifyHeader !== undefined && request.id === request.headers[fastifyHeader];
  const id = fromFastifyHeader
    ? audit.requestId(request.headers[fastifyHeader], undefined)
    : audit.requestId(request.headers[ids.header], request.id);
  if (request.id !== id) request.id = id;
  if (ids.echo && !reply.sent) reply.header(ids.header, id);
  return id;
}

/** The user auth plugins leave on the request (@fastify/passport, @fastify/jwt). */
export function userOf(request: FastifyRequest): unknown {
  return (request as { user?: unknown }).user;
}

/** The route pattern Fastify matched (`/orders/:id`, with its prefix), known before the first hook runs. */
export function routeOf(request: FastifyRequest): string | undefined {
  if (request.is404) return undefined;
  const url: unknown = request.routeOptions?.url;
  return typeof url === 'string' ? url : undefined;
}

/** Keeps the error a request failed with (the onError hook), for its API-log row. */
export function noteFailure(request: FastifyRequest, error: unknown): void {
  (request as { [FAILURE]?: unknown })[FAILURE] = error;
}

/**
 * The error a request failed with: the one Fastify's onError hook saw, else `reply.raw.err` (pino-http's convention,
 * as in Express), for an error a framework on top answers itself (a NestJS exception filter) before Fastify sees it.
 */
export function failureOf(request: FastifyRequest, reply: FastifyReply): unknown {
  return (request as { [FAILURE]?: unknown })[FAILURE] ?? (reply.raw as { err?: unknown }).err;
}

// request.ip follows the trustProxy option (X-Forwarded-For only when the app trusts its proxy); a closed socket
// has none.
function clientIp(request: FastifyRequest): string | undefined {
  try {
    return request.ip || request.raw.socket?.remoteAddress;
  } catch {
    return request.raw.socket?.remoteAddress;
  }
}
