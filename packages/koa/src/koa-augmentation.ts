// Types of what the middleware adds to Koa's state: the request id, Koa's way (ctx.state is the namespace).
declare module 'koa' {
  interface DefaultState {
    /** The request id: a valid inbound X-Request-Id, or a new UUIDv7. Set by every Auditrum middleware. */
    requestId: string;
  }
}

export {};
