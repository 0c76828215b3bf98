import type { HttpAudit, RequestFacts, RequestScope } from '@auditrum/core/http';
import type { Context, Next } from 'koa';

/** What the core needs to know about a Koa request when it starts. */
export function requestFacts(ctx: Context, requestId: string): RequestFacts {
  return {
    requestId,
    method: ctx.method,
    url: ctx.originalUrl ?? ctx.url,
    ip: clientIp(ctx),
    userAgent: ctx.req.headers['user-agent'],
  };
}

/**
 * Gives the request its id: `ctx.state.requestId` (and `ctx.req.id`, where pino-http looks) keeps a valid one
 * set earlier; echoes it.
 */
export function assignRequestId(audit: HttpAudit<Context>, ctx: Context): string {
  const ids = audit.options.requestIds;
  const node = ctx.req as typeof ctx.req & { id?: unknown };
  // Koa trusts its proxy's headers (X-Forwarded-For, -Proto, -Host) when `app.proxy` is set, whatever the peer.
  const id = audit.requestId(ctx.req.headers[ids.header], ctx.state.requestId ?? node.id, ctx.app.proxy === true);
  ctx.state.requestId = id;
  node.id ??= id;
  if (ids.echo && !ctx.headerSent) ctx.set(ids.header, id);
  return id;
}

/** The user auth libraries leave in `ctx.state.user` (koa-passport, koa-jwt). */
export function userOf(ctx: Context): unknown {
  return (ctx.state as { user?: unknown }).user;
}

/**
 * The route pattern @koa/router matched (it sets `ctx._matchedRoute`, with the router's prefix, before the handler
 * runs), read whenever it is needed: no watcher.
 */
export function routeOf(ctx: Context): string | undefined {
  const route: unknown = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  return typeof route === 'string' || route instanceof RegExp ? String(route) : undefined;
}

/**
 * Logs the request (see HttpAudit.log) and runs the rest of the middleware, noting an error thrown below on its
 * way up, so that the API-log row carries its message.
 */
export async function logAndRun(
  audit: HttpAudit<Context>,
  ctx: Context,
  facts: RequestFacts,
  scope: RequestScope | undefined,
  next: Next,
): Promise<void> {
  let failure: unknown;
  const logged = audit.log({
    req: ctx.req,
    res: ctx.res,
    hostReq: ctx,
    facts,
    outcome: {
      route: () => routeOf(ctx),
      error: () => failure,
      parsedBody: () => (ctx.request as { body?: unknown }).body,
    },
    scope,
  });
  try {
    await next();
  } catch (error) {
    failure = error;
    throw error;
  } finally {
    // The row of a request the client aborted waits for this: Koa does not end an aborted response.
    logged.settled();
  }
}

// ctx.ip follows app.proxy (X-Forwarded-For only when the app trusts its proxy); a closed socket has none.
function clientIp(ctx: Context): string | undefined {
  try {
    return ctx.ip || ctx.req.socket?.remoteAddress;
  } catch {
    return ctx.req.socket?.remoteAddress;
  }
}
