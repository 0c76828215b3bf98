import type { ApiContext } from './api-context.js';

/** The ids every change made in a window of time lies between (first greater than last: it has none). */
export interface IdRange {
  first: string;
  last: string;
}

/**
 * The ids the changes made from `from` (the log's start when undefined) up to, not including, `to` lie between, when
 * the window lies in months that have ended and that the summaries of ended months (`ended_month_ids`, migration 34:
 * each hour's lowest and highest id) still count whole: undefined when a part of the window is in another month (the
 * current one, one not summarized yet, the default partition) or a month holds a change above the ids its summary
 * counts (written since it was made).
 *
 * A month's primary key is walked from its newest change down to the window otherwise: ids lead the key, and a
 * change's time is its statement's start, so a time neither starts nor stops the walk (the first day of the previous
 * month at 10,000,000 changes: 52–57 ms of server CPU). The bounds hold whatever order ids and times came in, as the
 * summary took them from the changes themselves.
 */
export async function windowIds(
  api: Pick<ApiContext, 'pool' | 'schemaSql'>,
  from: string | undefined,
  to: string,
): Promise<IdRange | undefined> {
  // A window that reaches into this month (UTC, as the partitions are cut) has no summary to read: this month has not
  // ended (the query costs about a millisecond).
  const now = new Date();
  if (Date.parse(to) > Date.UTC(now.getUTCFullYear(), now.getUTCMonth())) return undefined;
  const s = api.schemaSql;
  const { rows } = await api.pool.query<{ bounded: boolean | null; first: string; last: string }>(
    `WITH e AS (SELECT e.* FROM ${s}.ended_month_ids e
                JOIN pg_inherits p ON p.inhrelid = e.partition_oid AND p.inhparent = to_regclass($3)),
     -- Without a start, the window starts with the oldest month summarized, and no change may be older.
     w AS (SELECT coalesce($1::timestamptz, (SELECT min(e.lower) FROM e)) AS start, $2::timestamptz AS stop),
     m AS (
       SELECT extract(epoch FROM least(e.upper, w.stop)) - extract(epoch FROM greatest(e.lower, w.start)) AS seconds,
         NOT EXISTS (SELECT FROM ${s}.changes c
                     WHERE c.changed_at >= e.lower AND c.changed_at < e.upper AND c.id > e.settled_ids) AS settled,
         (SELECT min(i) FROM unnest(e.first_ids[h.a:h.b]) i) AS first_id,
         (SELECT max(i) FROM unnest(e.last_ids[h.a:h.b]) i) AS last_id
       FROM e CROSS JOIN w
         -- The hours the window touches (hour 1 starts at the month's lower bound).
         CROSS JOIN LATERAL (SELECT
           floor((extract(epoch FROM greatest(e.lower, w.start)) - extract(epoch FROM e.lower)) / 3600)::integer + 1 AS a,
           ceil((extract(epoch FROM least(e.upper, w.stop)) - extract(epoch FROM e.lower)) / 3600)::integer AS b) h
       WHERE e.lower < w.stop AND e.upper > w.start
     )
     SELECT bool_and(m.settled) AND sum(m.seconds) = extract(epoch FROM w.stop) - extract(epoch FROM w.start)
         AND ($1::timestamptz IS NOT NULL OR NOT EXISTS (SELECT FROM ${s}.changes c WHERE c.changed_at < w.start))
         AS bounded,
       coalesce(min(m.first_id), 1)::text AS first, coalesce(max(m.last_id), 0)::text AS last
     FROM w LEFT JOIN m ON true GROUP BY w.start, w.stop`,
    [from ?? null, to, `${s}.changes`],
  );
  const row = rows[0];
  return row?.bounded === true ? { first: row.first, last: row.last } : undefined;
}
