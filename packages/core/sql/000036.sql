-- Auditrum schema, version 36: the summaries of each hour's ids (version 34) for every month of the change log, the
-- current one too, kept up to date a part at a time, for a time window in the current month.
--
-- Version 34 summarized only the months that had ended, so a window in the current month was read by walking the
-- month's primary key from its newest change down to the window (ids lead the key; a change's time is its statement's
-- start, so a time neither starts nor stops the walk): 11–13 ms for its first day 7 days into a month, about 55 ms by
-- its last day at 2.5 million changes a month. A summary now counts every change of its month up to an id
-- (`settled_ids`, as before: read once every transaction that may hold a smaller id has ended) and is brought up to
-- date by reading only the changes above the id it counted (the primary key's range, not the month again): each
-- hour's lowest and highest id become the least and greatest of what the summary said and what those changes add. A
-- reader takes a window's bounds from the summaries and from the changes of the window above the ids they count (the
-- ones made since the last summary: the primary key's range above them), so a change that comes after a summary,
-- to the current month or to one that has ended (a statement that began before its end), is never missed, and a month
-- that receives one is no longer read whole. ensure_partitions() (at migrate(), on the partition maintainer's timer,
-- every 6 hours by default, `auditrum partitions`) brings every summary up to date; capture does nothing more.
-- Renamed: ended_month_ids to month_ids. Replaced: _summarize_ended_months (version 34's) by _summarize_months, and
-- ensure_partitions (version 34's).

-- One row per monthly partition of the change log (by oid: a partition dropped, or made again by a restore, has
-- none). first_ids[i] and last_ids[i] are the lowest and highest id of the changes up to settled_ids made in hour i of
-- the month (hour 1 starts at `lower`), null when it has none. Readable by every role that may use the schema: it says
-- only which ids each hour's changes lie between.
ALTER TABLE :AUDITRUM_SCHEMA.ended_month_ids RENAME TO month_ids;
ALTER INDEX :AUDITRUM_SCHEMA.ended_month_ids_pkey RENAME TO month_ids_pkey;
DROP FUNCTION :AUDITRUM_SCHEMA._summarize_ended_months();

-- Makes the summary of each monthly partition of the change log that has none, brings up to date the ones that count
-- fewer ids than are settled (from the changes above the ids they count), and forgets those of partitions gone;
-- returns the partitions summarized or brought up to date. Nothing when the ids are not settled within a second (a
-- transaction left open: the next call tries again). The caller holds the partitions lock (_lock_partitions).
CREATE FUNCTION :AUDITRUM_SCHEMA._summarize_months() RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  parent regclass := format('%I.changes', :'AUDITRUM_SCHEMA')::regclass;
  issued bigint;
  settled bigint;
  part record;
  made text[] := '{}';
BEGIN
  DELETE FROM :AUDITRUM_SCHEMA.month_ids e
  WHERE NOT EXISTS (SELECT FROM pg_inherits h WHERE h.inhrelid = e.partition_oid AND h.inhparent = parent);
  -- The ids handed out so far: a summary that counts them all has nothing to add (and nothing is waited for).
  SELECT CASE WHEN q.is_called THEN q.last_value ELSE 0 END INTO issued FROM :AUDITRUM_SCHEMA.changes_id_seq q;
  FOR part IN
    SELECT c.oid, c.relname, b.lower, b.upper, e.settled_ids, e.first_ids, e.last_ids
    FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
      CROSS JOIN LATERAL (SELECT regexp_match(pg_get_expr(c.relpartbound, c.oid),
        '^FOR VALUES FROM \(''([^'']+)''\) TO \(''([^'']+)''\)$') AS m) r
      CROSS JOIN LATERAL (SELECT r.m[1]::timestamptz AS lower, r.m[2]::timestamptz AS upper) b
      LEFT JOIN :AUDITRUM_SCHEMA.month_ids e ON e.partition_oid = c.oid
    WHERE h.inhparent = parent AND r.m IS NOT NULL AND (e.settled_ids IS NULL OR e.settled_ids < issued)
    ORDER BY b.lower
  LOOP
    IF settled IS NULL THEN
      settled := :AUDITRUM_SCHEMA._settled_ids(interval '1 second');
      IF settled IS NULL THEN
        RETURN made;
      END IF;
    END IF;
    -- The changes above the ids counted (all of them for a new summary) up to the settled ones, per hour, merged with
    -- what the summary said.
    EXECUTE format(
      $sql$INSERT INTO %1$I.month_ids AS e (partition_oid, lower, upper, settled_ids, first_ids, last_ids)
      SELECT $1, $2, $3, greatest($4, $5), array_agg(least(s.first_id, o.first_id) ORDER BY g.hour),
        array_agg(greatest(s.last_id, o.last_id) ORDER BY g.hour)
      FROM generate_series(1, ceil((extract(epoch FROM $3) - extract(epoch FROM $2)) / 3600)::integer) g(hour)
        LEFT JOIN (SELECT ((extract(epoch FROM h.start) - extract(epoch FROM $2)) / 3600)::integer + 1 AS hour,
                     h.first_id, h.last_id
                   FROM (SELECT date_bin('1 hour', c.changed_at, $2) AS start, min(c.id) AS first_id, max(c.id) AS last_id
                         FROM %1$I.%2$I c WHERE c.id > $5 AND c.id <= $4 GROUP BY 1) h) s ON s.hour = g.hour
        LEFT JOIN unnest($6::bigint[], $7::bigint[]) WITH ORDINALITY AS o(first_id, last_id, hour) ON o.hour = g.hour
      ON CONFLICT (partition_oid) DO UPDATE SET lower = excluded.lower, upper = excluded.upper,
        settled_ids = excluded.settled_ids, first_ids = excluded.first_ids, last_ids = excluded.last_ids$sql$,
      :'AUDITRUM_SCHEMA', part.relname)
    USING part.oid, part.lower, part.upper, settled, coalesce(part.settled_ids, 0), part.first_ids, part.last_ids;
    made := made || part.relname::text;
  END LOOP;
  RETURN made;
END;
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._summarize_months() FROM PUBLIC;

/**
 * Creates the monthly partitions of the change log and of the API-request log from the current month (UTC) to
 * `months_ahead` months ahead, brings the change log's summaries of each hour's ids up to date (version 36) and
 * indexes its ended months (the departures index, version 22, and txid, version 26). Returns the change-log partitions
 * it created, as in version 1 (the API-request log's are named api_requests_pYYYY_MM). Rows that already landed in a
 * default partition for such a month are moved into the new partition, so a late call never fails. Runs with its
 * owner's rights (version 8). The summaries come before the indexes: a statement still writing to an ended month
 * waits for an index build to end, and the summary for that statement.
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA.ensure_partitions(months_ahead integer DEFAULT 3) RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  created text[];
BEGIN
  PERFORM :AUDITRUM_SCHEMA._lock_partitions(months_ahead);
  created := :AUDITRUM_SCHEMA._ensure_monthly_partitions('changes', 'changed_at', months_ahead);
  PERFORM :AUDITRUM_SCHEMA._ensure_monthly_partitions('api_requests', 'requested_at', months_ahead);
  PERFORM :AUDITRUM_SCHEMA._summarize_months();
  PERFORM :AUDITRUM_SCHEMA._index_ended_partitions();
  RETURN created;
END;
$$;

-- Every month of the change log gets its summary now (the current one read once, the ended ones from what they hold).
SELECT :AUDITRUM_SCHEMA._summarize_months();
