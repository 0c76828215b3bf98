import type pg from 'pg';

const ignore = (): void => undefined;

/**
 * Gives a pool or client a listener for the errors of idle connections: without one, a connection that the
 * server terminates while nobody uses it (57P01 when a test database is dropped WITH (FORCE), or a test that
 * kills backends on purpose) is an uncaught exception that fails the whole run. Nothing is lost by ignoring
 * them: a pool drops the broken connection and opens another, and a statement in flight still gets its error.
 *
 * A pool's clients get a listener of their own as they connect, too: pg-pool hands a new connection to its caller
 * from within the parse of the server's ReadyForQuery, having taken its idle listener off, and the caller's own
 * listener can only follow a microtask later. When the same TCP chunk also holds the server's FATAL (a backend
 * terminated just as it became ready), pg emits 'error' in between with no one listening.
 */
export function ignoreIdleErrors<T extends pg.Pool | pg.Client>(target: T): T {
  (target as pg.Pool).on('error', ignore);
  if ('totalCount' in target) target.on('connect', (client) => client.on('error', ignore));
  return target;
}
