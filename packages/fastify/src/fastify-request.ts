import type { IncomingMessage } from 'node:http';
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

/** How the plugin settles request ids: Fastify's own `requestIdHeader`, and whether Fastify trusts a peer as a proxy. */
export interface FastifyRequestIds {
  fastifyHeader: string | undefined;
  fromTrustedProxy: (raw: IncomingMessage) => boolean;
}

/**
 * Makes Auditrum's id Fastify's own: `request.id`, and the `reqId` of Fastify's log lines, come from the
 * `requestId` options (header, trustInbound, pattern, generate). Notes the header Fastify itself reads first when its
 * `requestIdHeader` option is set (Fastify 4 reads `request-id` by default), for assignRequestId().
 */
export function generateRequestIds(fastify: FastifyInstance, audit: HttpAudit<FastifyRequest>): FastifyRequestIds {
  const { header } = audit.options.requestIds;
  const fromTrustedProxy = peerTrust(fastify);
  fastify.setGenReqId((req) => audit.requestId(req.headers[header], undefined, fromTrustedProxy(req)));
  const fastifyHeader: unknown = fastify.initialConfig.requestIdHeader;
  return {
    fastifyHeader: typeof fastifyHeader === 'string' && fastifyHeader !== '' ? fastifyHeader.toLowerCase() : undefined,
    fromTrustedProxy,
  };
}

/**
 * Settles the request's id and echoes it: `request.id` as Fastify made it (with generateRequestIds(), Auditrum's)
 * or as a hook before this one set it, if valid. A value Fastify took unchecked from its own `requestIdHeader` is
 * an inbound id like any other: used only if trusted and valid.
 */
export function assignRequestId(
  audit: HttpAudit<FastifyRequest>,
  request: FastifyRequest,
  reply: FastifyReply,
  { fastifyHeader, fromTrustedProxy }: FastifyRequestIds,
): string {
  const ids = audit.options.requestIds;
  const fromFastifyHeader = fastifyHeader !== undefined && request.id === request.headers[fastifyHeader];
  const id = fromFastifyHeader
    ? audit.requestId(request.headers[fastifyHeader], undefined, fromTrustedProxy(request.raw))
    : audit.requestId(request.headers[ids.header], request.id, fromTrustedProxy(request.raw));
  if (request.id !== id) request.id = id;
  if (ids.echo && !reply.sent) reply.header(ids.header, id);
  return id;
}

/**
 * Whether Fastify trusts a connection's peer as a proxy, by Fastify's own rules (its `trustProxy` option: true, a
 * list of addresses or ranges, a function; a hop count alone trusts no peer in Fastify 5). The option is not in
 * `initialConfig`; with it, Fastify's request class has an `ips` getter (its proxy-addr walk of X-Forwarded-For,
 * which goes past the peer, hop 0, only if the peer is trusted), without it none. So the getter, asked about a
 * one-address X-Forwarded-For on the request's socket, answers. The class is found by its symbol's name, the same in
 * Fastify 4 and 5 (the contract battery runs both).
 */
function peerTrust(fastify: FastifyInstance): (raw: IncomingMessage) => boolean {
  // An encapsulated context (a plugin registered without fastify-plugin) is an object made from its parent's, with a
  // request class of its own that extends the parent's: the symbol and the getter are looked up along both chains.
  const requestClass = symbolNamed(fastify, 'fastify.Request');
  const prototype: unknown =
    requestClass && (fastify as unknown as Record<symbol, { prototype?: unknown }>)[requestClass]?.prototype;
  const ips = getterNamed(prototype, 'ips');
  if (ips === undefined) return () => false;
  return (raw) => {
    const socket = raw.socket;
    if (socket?.remoteAddress === undefined) return false;
    try {
      const walked: unknown = ips.call({ raw: { socket, connection: socket, headers: { 'x-forwarded-for': PROBE } } });
      return Array.isArray(walked) && walked.length > 1;
    } catch {
      return false;
    }
  };
}

function symbolNamed(start: object, description: string): symbol | undefined {
  for (let at: object | null = start; at !== null; at = Object.getPrototypeOf(at)) {
    const found = Object.getOwnPropertySymbols(at).find((key) => key.description === description);
    if (found) return found;
  }
  return undefined;
}

function getterNamed(start: unknown, name: string): (() => unknown) | undefined {
  for (let at = typeof start === 'object' ? start : null; at !== null; at = Object.getPrototypeOf(at)) {
    const getter = Object.getOwnPropertyDescriptor(at, name)?.get;
    if (getter) return getter;
  }
  return undefined;
}

// An address of the documentation range (RFC 5737): only its position in the walk matters.
const PROBE = '192.0.2.1';

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
