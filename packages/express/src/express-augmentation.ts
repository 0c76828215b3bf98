// Types of what the middleware adds to Express objects. `id` is compatible with pino-http's `req.id`, and `err`
// is pino-http's convention for the error a request failed with, which the API log stores.
declare global {
  namespace Express {
    interface Request {
      /** The request id: a valid inbound X-Request-Id, or a new UUIDv7. Set by every Auditrum middleware. */
      id: string;
    }
    interface Response {
      /** The error the request failed with; set it in your error handler to have its message logged. */
      err?: Error;
    }
  }
}

export {};
