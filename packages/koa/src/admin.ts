import { Readable } from 'node:stream';
import { adminUiDir } from '@auditrum/admin-ui';
import type { AdminOptions, AdminRequestBody } from '@auditrum/core/admin';
import { createAdminRoutes, normaliseBasePath } from '@auditrum/core/admin';
import type { Context, Middleware, Next } from 'koa';

export interface KoaAdminOptions extends Omit<AdminOptions<Context>, 'assetsDir'> {
  /** Where the admin is served: requests under it are answered, others passed on. Default `/audit-admin`. */
  basePath?: string;
  /** The built admin UI; default the one shipped in @auditrum/admin-ui. */
  assetsDir?: string;
  /** The base path the browser sees, when a proxy adds a prefix before the app; default `basePath`. */
  publicPath?: string;
}

/**
 * The audit admin (UI and JSON API; read-only unless given `authorizeWrite`) for Koa 2 and 3:
 * `app.use(auditAdmin({ pool, basePath: '/audit-admin', authorize: (ctx) => ctx.state.user?.isStaff === true }))`.
 * `authorize` runs before any data or asset is served; mounting without it throws.
 */
export function auditAdmin(options: KoaAdminOptions): Middleware {
  const { basePath = '/audit-admin', publicPath, assetsDir, ...rest } = options ?? ({} as KoaAdminOptions);
  if (typeof basePath !== 'string' || (basePath !== '' && !basePath.startsWith('/'))) {
    throw new TypeError('auditrum admin: `basePath` must be a path starting with "/", such as /audit-admin');
  }
  if (publicPath !== undefined && typeof publicPath !== 'string') {
    throw new TypeError('auditrum admin: `publicPath` must be a path such as /internal/audit-admin');
  }
  const base = normaliseBasePath(basePath);
  const handle = createAdminRoutes<Context>({ ...rest, assetsDir: assetsDir ?? adminUiDir });

  return async function auditAdminMiddleware(ctx: Context, next: Next): Promise<void> {
    // ctx.path is still percent-encoded: the route table decodes each segment.
    const path = ctx.path;
    if (base !== '' && path !== base && !path.startsWith(`${base}/`)) return next();
    const response = await handle({
      method: ctx.method,
      path: path.slice(base.length) || '/',
      query: new URLSearchParams(ctx.querystring),
      headers: ctx.headers,
      basePath: publicPath ?? base,
      body: requestBody(ctx),
      raw: ctx,
    });
    ctx.status = response.status;
    ctx.set(response.headers);
    const { body } = response;
    // Koa destroys a stream body when the response closes, which ends the export's keyset loop.
    ctx.body = typeof body === 'string' || Buffer.isBuffer(body) ? body : Readable.from(body);
  };
}

/**
 * The body for a write: the request stream, read (bounded) by the route table only once the write passed its checks;
 * or, when a body parser of the app (koa-bodyparser, koa-body) already read the stream, what it parsed.
 */
function requestBody(ctx: Context): AdminRequestBody {
  // A parser that did not take the type (and so left the stream unread) may still have set an empty body.
  return ctx.req.readableEnded ? { parsed: (ctx.request as { body?: unknown }).body } : ctx.req;
}
