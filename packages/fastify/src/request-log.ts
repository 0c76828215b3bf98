import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { HttpAudit, RequestFacts, RequestScope } from '@auditrum/core/http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { failureOf, noteFailure, routeOf } from './fastify-request.js';

/**
 * Starts the API-log row of a request (see HttpAudit.log), in its onRequest hook: the bodies are tapped before
 * Fastify reads them, the route and error are read when the response closes.
 */
export function logRequest(
  audit: HttpAudit<FastifyRequest>,
  request: FastifyRequest,
  reply: FastifyReply,
  facts: RequestFacts,
  scope: RequestScope | undefined,
): void {
  headersVisible(reply.raw);
  audit.log({
    req: request.raw,
    res: reply.raw,
    hostReq: request,
    facts,
    outcome: {
      route: () => routeOf(request),
      error: () => failureOf(request, reply),
      // A body a hook read before this plugin could tap it: what Fastify's parser made of it.
      parsedBody: () => request.body,
    },
    scope,
  });
}

/**
 * The API log's hooks besides onRequest: an aborted request's unread body, the error a request failed with, and
 * the flush when the app closes.
 */
export function addLogHooks(fastify: FastifyInstance, audit: HttpAudit<FastifyRequest>): void {
  // Fastify reads a body with listeners it adds only now: the body of a request the client aborted while the hooks
  // before waited (auth on a busy pool) emits nothing more, and the request would stop here for good, its row
  // waiting. It fails instead as Fastify fails a body aborted while being read (400, `aborted`), and the row is
  // written when the app has answered, with the actor auth set.
  fastify.addHook('preParsing', (request, _reply, payload, done) => {
    done(null, request.raw.destroyed && !request.raw.readableEnded ? abortedBody() : payload);
  });
  fastify.addHook('onError', (request, _reply, error, done) => {
    noteFailure(request, error);
    done();
  });
  fastify.addHook('onClose', (_instance, done) => {
    audit.close().then(() => done(), done);
  });
}

/**
 * Fastify hands a response's headers to writeHead(), and res.getHeaders(), which the API log reads, holds only
 * the ones set with setHeader(). They are set that way first: what Node itself does with writeHead()'s headers
 * when some were set before, so the bytes sent are the same.
 */
function headersVisible(res: ServerResponse): void {
  const writeHead = res.writeHead;
  res.writeHead = function writeHeadVisibly(this: ServerResponse, ...args: unknown[]): ServerResponse {
    const headers = args[args.length - 1];
    if (args.length > 1 && typeof headers === 'object' && headers !== null && !Array.isArray(headers)) {
      for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) {
        if (name && value !== undefined) this.setHeader(name, value);
      }
    }
    return (writeHead as (...args: unknown[]) => ServerResponse).apply(this, args);
  } as typeof res.writeHead;
}

function abortedBody(): Readable {
  return new Readable({
    read() {
      this.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    },
  });
}
