import type { HttpAudit, RequestFacts } from '@auditrum/core/http';
import { watchAssignment } from '@auditrum/core/http';
import type { Request, Response } from 'express';

/** What the core needs to know about an Express request when it starts. */
export function requestFacts(req: Request, requestId: string): RequestFacts {
  return {
    requestId,
    method: req.method,
    // originalUrl: the URL as received, before a mounted router trimmed it.
    url: req.originalUrl ?? req.url ?? '/',
    ip: clientIp(req),
    userAgent: req.headers['user-agent'],
  };
}

/** Gives the request its id (keeping a valid one set earlier, e.g. by pino-http) and echoes it. */
export function assignRequestId(audit: HttpAudit<Request>, req: Request, res: Response): string {
  const ids = audit.options.requestIds;
  const id = audit.requestId(req.headers[ids.header], req.id, fromTrustedProxy(req));
  req.id = id;
  if (ids.echo && !res.headersSent) res.setHeader(ids.header, id);
  return id;
}

/** The user auth libraries leave on the request (passport and most others). */
export function userOf(req: Request): unknown {
  return (req as { user?: unknown }).user;
}

/**
 * Reports the route pattern (`/orders/:id`, with the mount path of its router) as soon as Express matches one,
 * before the handler runs, so that the handler's changes carry it. Returns the last one seen.
 */
export function followRoute(req: Request, onRoute?: (route: string) => void): () => string | undefined {
  let last: string | undefined;
  watchAssignment(req, 'route', (route) => {
    const path = (route as { path?: unknown } | undefined)?.path;
    if (path === undefined) return;
    last = `${req.baseUrl ?? ''}${Array.isArray(path) ? path.join('|') : String(path)}`;
    onRoute?.(last);
  });
  return () => last;
}

// Express compiles its `trust proxy` setting into this function (the one req.ip and req.protocol ask), in Express 4
// and 5, for every app and mounted sub-app: whether the connection's peer, hop 0, is a proxy the app trusts.
function fromTrustedProxy(req: Request): boolean {
  const trust: unknown = req.app?.get('trust proxy fn');
  const peer = req.socket?.remoteAddress;
  return typeof trust === 'function' && peer !== undefined && trust(peer, 0) === true;
}

// Express computes req.ip from the trust proxy setting on each read; read once. A closed socket has none.
function clientIp(req: Request): string | undefined {
  try {
    return req.ip ?? req.socket?.remoteAddress;
  } catch {
    return req.socket?.remoteAddress;
  }
}
