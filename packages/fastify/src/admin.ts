import { Readable } from 'node:stream';
import { adminUiDir } from '@auditrum/admin-ui';
import type { AdminOptions, AdminRequestBody, AdminResponse } from '@auditrum/core/admin';
import { createAdminRoutes, normaliseBasePath } from '@auditrum/core/admin';
import type { FastifyPluginCallback, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';

export interface FastifyAdminOptions extends Omit<AdminOptions<FastifyRequest>, 'assetsDir'> {
  /** The built admin UI; default the one shipped in @auditrum/admin-ui. */
  assetsDir?: string;
  /**
   * The base path the browser sees, when a proxy adds a prefix before the app (e.g. `/internal/audit-admin` for
   * an app that registers the admin with the prefix `/audit-admin`); default the prefix.
   */
  publicPath?: string;
}

// Every method reaches the route table, which answers 405 (with Allow) to the ones a path does not take.
const METHODS: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/**
 * The audit admin (UI and JSON API; read-only unless given `authorizeWrite`) for Fastify 4 and 5, as an
 * encapsulated plugin served under the prefix it is registered with:
 * `app.register(auditAdmin({ pool, authorize: (request) => request.user?.isStaff === true }), { prefix: '/audit-admin' })`.
 * `authorize` runs before any data or asset is served; mounting without it throws.
 */
export function auditAdmin(options: FastifyAdminOptions): FastifyPluginCallback {
  const { publicPath, assetsDir, ...rest } = options ?? ({} as FastifyAdminOptions);
  if (publicPath !== undefined && typeof publicPath !== 'string') {
    throw new TypeError('auditrum admin: `publicPath` must be a path such as /internal/audit-admin');
  }
  const handle = createAdminRoutes<FastifyRequest>({ ...rest, assetsDir: assetsDir ?? adminUiDir });

  return function auditAdminPlugin(fastify, _options, done) {
    const base = normaliseBasePath(fastify.prefix);
    // A write's body is read by the route table itself, bounded and only once the write passed its checks: no
    // parser (the app's or Fastify's) reads it first, and no content type is refused before the admin's own answer.
    // Encapsulated: the app's routes keep their parsers.
    fastify.removeAllContentTypeParsers();
    fastify.addContentTypeParser('*', (_request, _payload, leaveUnread) => leaveUnread(null));

    const serve = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      // request.url is the whole URL, still percent-encoded: the route table decodes each segment.
      const url = request.url;
      const queryStart = url.indexOf('?');
      const path = queryStart === -1 ? url : url.slice(0, queryStart);
      const response = await handle({
        method: request.method,
        path: (path.startsWith(base) ? path.slice(base.length) : path) || '/',
        query: new URLSearchParams(queryStart === -1 ? '' : url.slice(queryStart + 1)),
        headers: request.headers,
        basePath: publicPath ?? base,
        body: requestBody(request),
        raw: request,
      });
      return send(request, reply, response);
    };
    fastify.route({ method: METHODS, url: '/', prefixTrailingSlash: 'both', exposeHeadRoute: false, handler: serve });
    fastify.route({ method: METHODS, url: '/*', exposeHeadRoute: false, handler: serve });
    done();
  };
}

function send(request: FastifyRequest, reply: FastifyReply, response: AdminResponse): FastifyReply {
  reply.code(response.status).headers(response.headers);
  const { body } = response;
  if (typeof body === 'string' || Buffer.isBuffer(body)) return reply.send(body);
  if (request.method === 'HEAD') return reply.send();
  // Fastify destroys a stream body when the client goes away, which ends the export's keyset loop.
  return reply.send(Readable.from(body));
}

/**
 * The body for a write: the request stream, unread (the admin's own parser leaves it so); or, when a hook of the
 * app already read it, what it left in `request.body`.
 */
function requestBody(request: FastifyRequest): AdminRequestBody {
  return request.raw.readableEnded ? { parsed: request.body } : request.raw;
}
