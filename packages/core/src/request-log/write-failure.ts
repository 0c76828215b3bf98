import pg from 'pg';

/**
 * Why a batch was not written:
 * - `refused`: the database refused a row's data (class 22 data exception, 23 integrity, 54 program limit, e.g. a
 *   jsonb value too large). Retrying the same rows cannot succeed; the bad row is found and reported.
 * - `unavailable`: anything else: the connection failed or was refused, the server is shutting down or starting,
 *   read-only after a failover, or the table, a grant or a partition for the row is missing. None of it is the
 *   rows' fault: they are kept and retried, so that a restart, a failover or a GRANT loses nothing.
 */
export type WriteFailure = 'refused' | 'unavailable';

const REFUSED_CLASSES = new Set(['22', '23', '54']);

export function writeFailure(error: unknown): WriteFailure {
  return error instanceof pg.DatabaseError && REFUSED_CLASSES.has(String(error.code).slice(0, 2)) && !noPartition(error)
    ? 'refused'
    : 'unavailable';
}

// "No partition of relation … found for row" is a check violation (23514) that names no constraint, whatever the
// server's language: the table's partitions (the default one detached, say) are at fault, not the row.
function noPartition(error: pg.DatabaseError): boolean {
  return error.code === '23514' && error.constraint === undefined;
}

// Connection exception, operator intervention (shutdown, crash, cannot connect now), insufficient resources,
// system error: the server said so and closed, or is about to close, the connection.
const CONNECTION_GONE = /^(08|57P|53|58)/;

/** Whether the connection a statement failed on can be used again: the server answered, and kept it open. */
export function connectionSurvives(error: unknown): boolean {
  return error instanceof pg.DatabaseError && !CONNECTION_GONE.test(String(error.code));
}
