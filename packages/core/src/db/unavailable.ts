/**
 * Whether an error says the database could not be reached or went away, rather than that a statement failed: the
 * server down, restarting or refusing connections, the connection cut. A caller can say "try again" to these; the
 * same request may well succeed a moment later, where a statement's own error would fail again.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (NODE_CODES.has(code) || SQLSTATES.has(code)) return true;
    // SQLSTATE class 08: connection exceptions.
    if (/^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  return typeof message === 'string' && PG_MESSAGES.some((pattern) => pattern.test(message));
}

/** The socket's errors from Node: refused, reset, timed out, no route, the name not found. */
const NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EPIPE',
]);

/** The server's own: shut down by an administrator or a crash, starting up or shutting down, out of connections. */
const SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

/** What pg and pg-pool throw without a code when the connection ends or never comes. */
const PG_MESSAGES = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect$/,
  /^Client has encountered a connection error and is not queryable$/,
  /^Client was closed and is not queryable$/,
];
