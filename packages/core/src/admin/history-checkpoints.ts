import type { ChangeRow } from '../changes/change-row.js';
import { changeColumns } from '../changes/change-row.js';
import type { ApiContext } from './api-context.js';
import type { Change } from './api-types.js';
import { toChanges } from './change-rows.js';
import type { FoldState } from './row-history.js';

/**
 * A state of a busy row's fold that ensure_partitions() kept (history_checkpoints, migration 40): after the change
 * `changeId`, `versions` versions in all, the latest of their times `latestMicros` (microseconds since 1970).
 */
export interface HistoryCheckpoint {
  changeId: string;
  versions: number;
  latestMicros: number;
}

/** Where a fold starts: a kept state, or (undefined) the row's first change. */
export interface FoldStart {
  checkpoint: HistoryCheckpoint;
  fold: FoldState;
}

/**
 * The row's kept states, oldest first; none when the reader may not read them or they are not the log's (an erasure
 * or purge since they were made: _history_row_checkpoints), nor for a fold that is not the whole row's (an admin
 * scoped to an actor sees only that actor's changes; a key that reads as an erased key's pseudonym leaves some out).
 */
export async function rowCheckpoints(
  api: Pick<ApiContext, 'pool' | 'schemaSql' | 'scope'>,
  tableId: number,
  key: string,
  wholeRow: boolean,
): Promise<HistoryCheckpoint[]> {
  if (!wholeRow || api.scope?.actor !== undefined) return [];
  const { rows } = await api.pool.query<{ change_id: string; versions: string; latest_micros: string }>(
    `SELECT h.change_id::text, h.versions::text, h.latest_micros::text
     FROM ${api.schemaSql}._history_row_checkpoints($1, $2) h`,
    [tableId, key],
  );
  return rows.map((row) => ({
    changeId: row.change_id,
    versions: Number(row.versions),
    latestMicros: Number(row.latest_micros),
  }));
}

/**
 * The fold's state kept after `checkpoint`: each column's value read from the change that set it, as the admin reads
 * every change (toChanges: an erased value null and listed, an oversized marker listed, as the reader may see them),
 * so that it is what the fold from the first change gives. Undefined when it is gone (made again meanwhile).
 */
export async function checkpointStart(
  api: ApiContext,
  tableId: number,
  key: string,
  checkpoint: HistoryCheckpoint,
): Promise<FoldStart | undefined> {
  const s = api.schemaSql;
  const { rows } = await api.pool.query<{
    complete: boolean;
    present: boolean;
    state: [string, string, Side][] | null;
  }>(
    `SELECT h.complete, h.present, h.state FROM ${s}.history_checkpoints h
     WHERE h.table_id = $1 AND h.row_key = $2 AND h.change_id = $3::bigint`,
    [tableId, key, checkpoint.changeId],
  );
  const kept = rows[0];
  if (!kept) return undefined;
  const fold: FoldState = { state: null, oversized: [], erased: [], complete: kept.complete, exists: kept.present };
  if (kept.state === null) return { checkpoint, fold };
  const ids = [...new Set(kept.state.map(([, id]) => String(id)))];
  const { rows: sources } = await api.pool.query<ChangeRow>(
    `SELECT ${changeColumns(s)} FROM ${s}.changes c WHERE c.id = ANY ($1::bigint[])`,
    [ids],
  );
  const changes = new Map((await toChanges(api, sources)).map((change) => [change.id, change]));
  const state: Record<string, unknown> = {};
  const oversized: string[] = [];
  const erased: string[] = [];
  for (const [column, id, side] of kept.state) {
    const change = changes.get(String(id));
    if (!change) return undefined;
    state[column] = SIDES[side].values(change)?.[column];
    if (SIDES[side].oversized(change)?.includes(column)) oversized.push(column);
    if (SIDES[side].erased(change)?.includes(column)) erased.push(column);
  }
  return { checkpoint, fold: { ...fold, state, oversized, erased } };
}

type Side = 'new' | 'old';

/** Where a change holds the values, oversized markers and erased columns of each side. */
const SIDES: Record<
  Side,
  {
    values: (change: Change) => Record<string, unknown> | null;
    oversized: (change: Change) => readonly string[] | undefined;
    erased: (change: Change) => readonly string[] | undefined;
  }
> = {
  new: { values: (c) => c.newValues, oversized: (c) => c.oversized?.new, erased: (c) => c.erased?.new },
  old: { values: (c) => c.oldValues, oversized: (c) => c.oversized?.old, erased: (c) => c.erased?.old },
};
