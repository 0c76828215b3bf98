import type pg from 'pg';
import { quoteIdentifier } from '../schema/identifiers.js';
import type { ExportCursor, ExportMark, LogIds } from './export-cursor.js';

/** Marks kept in a cursor at most: dropping one only lowers a later floor (a longer scan), never loses a row. */
const MAX_MARKS = 32;

/** Where the logs stood at one moment: a mark, and the snapshot's horizon with the ids drawn by then. */
export interface Horizon {
  mark: ExportMark;
  /** The snapshot's xmin: every transaction below it has ended, and no transaction can ever get an id below it. */
  horizon: string;
  /** The sequences read after the snapshot: every row of a transaction below the horizon has an id no larger. */
  after: LogIds;
}

const sequenceValue = (schema: string, table: string) =>
  `(SELECT CASE WHEN q.is_called THEN q.last_value ELSE 0 END FROM ${quoteIdentifier(schema)}.${quoteIdentifier(`${table}_id_seq`)} q)::text`;

/**
 * Reads a horizon in three statements, three moments, in this order (autocommit, each its own snapshot): the
 * sequences (the mark's ids), then the next transaction id (pg_current_xact_id(), a transaction of its own that
 * writes nothing: a snapshot's xmax would not do, as a transaction with an id at or above it may already be running
 * and have drawn ids), then the snapshot's xmin and the sequences again.
 */
export async function readHorizon(client: pg.ClientBase, schema: string): Promise<Horizon> {
  const idsSql = `${sequenceValue(schema, 'changes')} AS changes, ${sequenceValue(schema, 'api_requests')} AS requests`;
  const before = await client.query<LogIds>(`SELECT ${idsSql}`);
  const next = await client.query<{ next: string }>('SELECT pg_current_xact_id()::text AS next');
  const now = await client.query<LogIds & { horizon: string }>(
    `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon, ${idsSql}`,
  );
  const ids = before.rows[0] as LogIds;
  const { horizon, changes, requests } = now.rows[0] as LogIds & { horizon: string };
  return {
    mark: { next: next.rows[0]?.next as string, ids: { changes: ids.changes, requests: ids.requests } },
    horizon,
    after: { changes, requests },
  };
}

/**
 * The snapshot's horizon alone, one cheap read-only statement: while it has not moved past a cursor's `to`, no step
 * can take anything, and readHorizon() (which takes a transaction id, a commit record) is not needed.
 */
export async function peekHorizon(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ horizon: string }>(
    'SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon',
  );
  return rows[0]?.horizon as string;
}

/**
 * The cursor of the step after `cursor`'s, up to `horizon`, with none of it delivered; undefined when no transaction
 * has ended since (the horizon has not moved). The step's floor for each log is the ids of the latest mark whose
 * `next` is at most the step's `from`: every transaction of the step (ids from `from` on) got its id after that
 * mark's ids were drawn.
 */
export function nextStep(cursor: ExportCursor, { mark, horizon, after }: Horizon): ExportCursor | undefined {
  if (BigInt(horizon) <= BigInt(cursor.to)) return undefined;
  const from = cursor.to;
  const floorMark = latestMarkAtMost(cursor.marks, BigInt(from));
  const marks = [...cursor.marks, mark];
  // Marks below the new step's end are needed only for the latest of them, the next step's floor.
  const kept = latestMarkAtMost(marks, BigInt(horizon));
  const pruned = marks.filter((m) => m === kept || BigInt(m.next) > BigInt(horizon));
  while (pruned.length > MAX_MARKS) pruned.splice(1, 1);
  return {
    ...cursor,
    step: cursor.step + 1,
    from,
    to: horizon,
    floor: floorMark?.ids ?? { changes: '0', requests: '0' },
    after,
    delivered: 0,
    last: null,
    marks: pruned,
  };
}

function latestMarkAtMost(marks: readonly ExportMark[], xid: bigint): ExportMark | undefined {
  let latest: ExportMark | undefined;
  for (const mark of marks) {
    if (BigInt(mark.next) <= xid && (latest === undefined || BigInt(mark.next) > BigInt(latest.next))) latest = mark;
  }
  return latest;
}
