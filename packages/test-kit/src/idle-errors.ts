import type pg from 'pg';

/**
 * Gives a pool or client a listener for the errors of idle connections: without one, a connection that the
 * server terminates while nobody uses it (57P01 when a test database is dropped WITH (FORCE), or a test that
 * kills backends on purpose) is an uncaught exception that fails the whole run. Nothing is lost by ignoring
 * them: a pool drops the broken connection and opens another, and a statement in flight still gets its error.
 */
export function ignoreIdleErrors<T extends pg.Pool | pg.Client>(target: T): T {
  (target as pg.Pool).on('error', () => undefined);
  return target;
}
