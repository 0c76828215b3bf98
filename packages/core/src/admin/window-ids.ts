import type { ApiContext } from './api-context.js';

/** The ids every change made in a window of time lies between (first greater than last: it has none). */
export interface IdRange {
  first: string;
  last: string;
}

/**
 * The ids the changes made from `from` (the log's start when undefined) up to, not including, `to` lie between, when
 * every part of the window lies in a month that has a summary (`month_ids`, migrations 34 and 36: each hour's lowest
 * and highest id among the changes up to the ids it counts): undefined when a part of the window is in a month not
 * summarized yet (a partition made since the last `ensure_partitions()`, the default partition), or without a start
 * when a change is older than the oldest month summarized.
 *
 * A month's primary key is walked from its newest change down to the window otherwise: ids lead the key, and a
 * change's time is its statement's start, so a time neither starts nor stops the walk (the first day of the previous
 * month at 10,000,000 changes: 52–57 ms of server CPU). The bounds hold whatever order ids and times came in, as the
 * summary took them from the changes themselves; the changes made since a summary (ids above those it counts: in the
 * current month, those since the last `ensure_partitions()`; in an ended month, a statement that began before its
 * end) are read from the primary key's range above them and widen the bounds.
 */
export async function windowIds(
  api: Pick<ApiContext, 'pool' | 'schemaSql'>,
  from: string | undefined,
  to: string,
): Promise<IdRange | undefined> {
  const s = api.schemaSql;
  const { rows } = await api.pool.query<{ bounded: boolean | null; first: string; last: string }>(
    `WITH e AS (SELECT e.* FROM ${s}.month_ids e
                JOIN pg_inherits p ON p.inhrelid = e.partition_oid AND p.inhparent = to_regclass($3)),
     -- Without a start, the window starts with the oldest month summarized, and no change may be older.
     w AS (SELECT coalesce($1::timestamptz, (SELECT min(e.lower) FROM e)) AS start, $2::timestamptz AS stop),
     m AS (
       SELECT extract(epoch FROM least(e.upper, w.stop)) - extract(epoch FROM greatest(e.lower, w.start)) AS seconds,
         least((SELECT min(i) FROM unnest(e.first_ids[h.a:h.b]) i), t.first_id) AS first_id,
         greatest((SELECT max(i) FROM unnest(e.last_ids[h.a:h.b]) i), t.last_id) AS last_id
       FROM e CROSS JOIN w
         -- The hours the window touches (hour 1 starts at the month's lower bound).
         CROSS JOIN LATERAL (SELECT
           floor((extract(epoch FROM greatest(e.lower, w.start)) - extract(epoch FROM e.lower)) / 3600)::integer + 1 AS a,
           ceil((extract(epoch FROM least(e.upper, w.stop)) - extract(epoch FROM e.lower)) / 3600)::integer AS b) h
         -- The window's changes that the summary does not count (made since): the primary key's range above its ids.
         CROSS JOIN LATERAL (SELECT min(c.id) AS first_id, max(c.id) AS last_id FROM ${s}.changes c
           WHERE c.id > e.settled_ids AND c.changed_at >= greatest(e.lower, w.start)
             AND c.changed_at < least(e.upper, w.stop)) t
       WHERE e.lower < w.stop AND e.upper > w.start
     )
     SELECT sum(m.seconds) = extract(epoch FROM w.stop) - extract(epoch FROM w.start)
         AND ($1::timestamptz IS NOT NULL OR NOT EXISTS (SELECT FROM ${s}.changes c WHERE c.changed_at < w.start))
         AS bounded,
       coalesce(min(m.first_id), 1)::text AS first, coalesce(max(m.last_id), 0)::text AS last
     FROM w LEFT JOIN m ON true GROUP BY w.start, w.stop`,
    [from ?? null, to, `${s}.changes`],
  );
  const row = rows[0];
  return row?.bounded === true ? { first: row.first, last: row.last } : undefined;
}
