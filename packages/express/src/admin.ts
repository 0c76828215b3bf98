import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { adminUiDir } from '@auditrum/admin-ui';
import type { AdminOptions, AdminRequestBody, AdminResponse } from '@auditrum/core/admin';
import { createAdminRoutes } from '@auditrum/core/admin';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

export interface ExpressAdminOptions extends Omit<AdminOptions<Request>, 'assetsDir'> {
  /** The built admin UI; default the one shipped in @auditrum/admin-ui. */
  assetsDir?: string;
  /**
   * The base path the browser sees, when a proxy adds a prefix before the app (e.g. `/internal/audit-admin` for
   * an app that mounts the admin at `/audit-admin`); default the mount path, `req.baseUrl`.
   */
  publicPath?: string;
}

/**
 * The audit admin (UI and JSON API; read-only unless given `authorizeWrite`) for Express 4.21+ and 5, mounted under any path:
 * `app.use('/audit-admin', auditAdmin({ pool, authorize: (req) => req.user?.isStaff === true }))`.
 * `authorize` runs before any data or asset is served; mounting without it throws.
 */
export function auditAdmin(options: ExpressAdminOptions): RequestHandler {
  const { publicPath, assetsDir, ...rest } = options ?? ({} as ExpressAdminOptions);
  if (publicPath !== undefined && typeof publicPath !== 'string') {
    throw new TypeError('auditrum admin: `publicPath` must be a path such as /internal/audit-admin');
  }
  const handle = createAdminRoutes<Request>({ ...rest, assetsDir: assetsDir ?? adminUiDir });
  const onError = options.onError ?? ((error: unknown) => console.error('auditrum admin:', error));

  return function auditAdminMiddleware(req: Request, res: Response, next: NextFunction): void {
    // req.url is relative to the mount point and still percent-encoded: the route table decodes each segment.
    const url = req.url ?? '/';
    const queryStart = url.indexOf('?');
    handle({
      method: req.method,
      path: queryStart === -1 ? url : url.slice(0, queryStart),
      query: new URLSearchParams(queryStart === -1 ? '' : url.slice(queryStart + 1)),
      headers: req.headers,
      basePath: publicPath ?? req.baseUrl,
      body: requestBody(req),
      raw: req,
    })
      .then((response) => send(req, res, response))
      .catch((error: unknown) => {
        if (!res.headersSent) next(error);
        else if (!isClientGone(error)) onError(error);
      });
  };
}

async function send(req: Request, res: Response, response: AdminResponse): Promise<void> {
  res.status(response.status);
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
  const { body } = response;
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  // A closed connection destroys the stream, which ends the export's keyset loop.
  await pipeline(Readable.from(body), res);
}

/**
 * The body for a write: the request stream, read (bounded) by the route table only once the write passed its checks;
 * or, when a body parser of the app (express.json()) already read the stream, what it parsed.
 */
function requestBody(req: Request): AdminRequestBody {
  return req.readableEnded ? { parsed: req.body } : req;
}

function isClientGone(error: unknown): boolean {
  return (error as { code?: string } | undefined)?.code === 'ERR_STREAM_PREMATURE_CLOSE';
}
