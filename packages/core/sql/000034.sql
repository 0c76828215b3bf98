-- Auditrum schema, version 34: for each month of the change log that has ended, the lowest and highest id of each
-- hour's changes, for a time window in an ended month.
--
-- The admin reads a window of time (`from` and `to` of the changes list) by walking the month's primary key from its
-- newest change down to the window: ids lead the key and a change's time is its statement's start, so a time
-- neither starts nor stops the walk (the first day of a month of 2,500,000 changes: 52–57 ms of server CPU). An index
-- on changed_at did not help (the planner keeps the walk) and would cost capture in the current month. But once a
-- month has ended, its changes' ids and times are known: ensure_partitions() (at migrate(), on the partition
-- maintainer's timer, `auditrum partitions`) now keeps in `ended_month_ids`, for each ended month, each hour's
-- lowest and highest id. Every change of a window lies between the lowest and highest id of the hours the window
-- touches, whatever order the ids and times came in (a long statement's later rows, with its start as their time),
-- so the admin walks only those ids. Capture does nothing more.
--
-- Rows can still come to a month that has ended: a statement that began before its end writes later (with a larger
-- id), and a transaction that took an id before the summary was made may commit after it (with a smaller one). So
-- a summary is made only once every transaction that may hold an id up to a value has ended (`_settled_ids`: the
-- holders of the id sequence's lock, which nextval keeps to the end of the transaction, are waited for), and says up
-- to which id it counts every change of the month (`settled_ids`). A month that holds a change above it is not
-- bounded by its summary (the admin reads it whole, as before) until ensure_partitions() makes the summary again.
-- Replaced: ensure_partitions (version 22's).

-- One row per ended month of the change log (its partition, by oid: a partition dropped, or made again by a restore,
-- has none). first_ids[i] and last_ids[i] are the lowest and highest id of the changes made in hour i of the month
-- (hour 1 starts at `lower`), null when it has none. Readable by every role that may use the schema: it says only
-- which ids each hour's changes lie between.
CREATE TABLE :AUDITRUM_SCHEMA.ended_month_ids (
  partition_oid oid PRIMARY KEY,
  lower timestamptz NOT NULL,
  upper timestamptz NOT NULL,
  settled_ids bigint NOT NULL,
  first_ids bigint[] NOT NULL,
  last_ids bigint[] NOT NULL
);
GRANT SELECT ON :AUDITRUM_SCHEMA.ended_month_ids TO PUBLIC;

-- An id such that every change with an id up to it is committed or rolled back (visible to the next statement, in
-- READ COMMITTED), and no later change takes one: the id sequence's value, once every other transaction that held
-- the sequence's lock when it was read has ended (nextval takes the lock before it hands out a value, and keeps it
-- to the end of the transaction). Waits for them at most `patience`; null when one is still running then, or when
-- the transaction is not READ COMMITTED (its snapshot would not see what they commit).
CREATE FUNCTION :AUDITRUM_SCHEMA._settled_ids(patience interval) RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  seq regclass := format('%I.changes_id_seq', :'AUDITRUM_SCHEMA')::regclass;
  db oid := (SELECT d.oid FROM pg_database d WHERE d.datname = current_database());
  deadline timestamptz := clock_timestamp() + patience;
  ids bigint;
  holders text[];
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RETURN NULL;
  END IF;
  SELECT CASE WHEN q.is_called THEN q.last_value ELSE 0 END INTO ids FROM :AUDITRUM_SCHEMA.changes_id_seq q;
  SELECT array_agg(l.virtualtransaction) INTO holders FROM pg_locks l
  WHERE l.locktype = 'relation' AND l.database = db AND l.relation = seq AND l.pid IS DISTINCT FROM pg_backend_pid();
  WHILE EXISTS (SELECT FROM pg_locks l WHERE l.locktype = 'relation' AND l.database = db AND l.relation = seq
                AND l.virtualtransaction = ANY (holders)) LOOP
    IF clock_timestamp() >= deadline THEN
      RETURN NULL;
    END IF;
    PERFORM pg_sleep(0.01);
  END LOOP;
  RETURN ids;
END;
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._settled_ids(interval) FROM PUBLIC;

-- Makes the summary of each ended month of the change log that has none, or one that a change above its settled ids
-- makes incomplete, and forgets those of partitions gone; returns the partitions summarized. Nothing when the ids are
-- not settled within a second (a transaction left open: the next call tries again). The caller holds the partitions
-- lock (_lock_partitions).
CREATE FUNCTION :AUDITRUM_SCHEMA._summarize_ended_months() RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  parent regclass := format('%I.changes', :'AUDITRUM_SCHEMA')::regclass;
  settled bigint;
  part record;
  made text[] := '{}';
BEGIN
  DELETE FROM :AUDITRUM_SCHEMA.ended_month_ids e
  WHERE NOT EXISTS (SELECT FROM pg_inherits h WHERE h.inhrelid = e.partition_oid AND h.inhparent = parent);
  FOR part IN
    SELECT c.oid, c.relname, b.lower, b.upper
    FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
      CROSS JOIN LATERAL (SELECT regexp_match(pg_get_expr(c.relpartbound, c.oid),
        '^FOR VALUES FROM \(''([^'']+)''\) TO \(''([^'']+)''\)$') AS m) r
      CROSS JOIN LATERAL (SELECT r.m[1]::timestamptz AS lower, r.m[2]::timestamptz AS upper) b
    WHERE h.inhparent = parent AND r.m IS NOT NULL AND b.upper <= now()
      AND NOT EXISTS (SELECT FROM :AUDITRUM_SCHEMA.ended_month_ids e WHERE e.partition_oid = c.oid
        AND NOT EXISTS (SELECT FROM :AUDITRUM_SCHEMA.changes x
                        WHERE x.changed_at >= e.lower AND x.changed_at < e.upper AND x.id > e.settled_ids))
    ORDER BY b.lower
  LOOP
    IF settled IS NULL THEN
      settled := :AUDITRUM_SCHEMA._settled_ids(interval '1 second');
      IF settled IS NULL THEN
        RETURN made;
      END IF;
    END IF;
    EXECUTE format(
      $sql$INSERT INTO %1$I.ended_month_ids AS e (partition_oid, lower, upper, settled_ids, first_ids, last_ids)
      SELECT $1, $2, $3, $4, array_agg(s.first_id ORDER BY g.hour), array_agg(s.last_id ORDER BY g.hour)
      FROM generate_series(1, ceil((extract(epoch FROM $3) - extract(epoch FROM $2)) / 3600)::integer) g(hour)
        LEFT JOIN (SELECT ((extract(epoch FROM h.start) - extract(epoch FROM $2)) / 3600)::integer + 1 AS hour,
                     h.first_id, h.last_id
                   FROM (SELECT date_bin('1 hour', c.changed_at, $2) AS start, min(c.id) AS first_id, max(c.id) AS last_id
                         FROM %1$I.%2$I c GROUP BY 1) h) s ON s.hour = g.hour
      ON CONFLICT (partition_oid) DO UPDATE SET lower = excluded.lower, upper = excluded.upper,
        settled_ids = excluded.settled_ids, first_ids = excluded.first_ids, last_ids = excluded.last_ids$sql$,
      :'AUDITRUM_SCHEMA', part.relname)
    USING part.oid, part.lower, part.upper, settled;
    made := made || part.relname::text;
  END LOOP;
  RETURN made;
END;
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._summarize_ended_months() FROM PUBLIC;

/**
 * Creates the monthly partitions of the change log and of the API-request log from the current month (UTC) to
 * `months_ahead` months ahead, summarizes the change log's ended months (their hours' ids, version 34) and indexes
 * them (the departures index, version 22, and txid, version 26). Returns the change-log partitions it created, as in
 * version 1 (the API-request log's are named api_requests_pYYYY_MM). Rows that already landed in a default partition
 * for such a month are moved into the new partition, so a late call never fails. Runs with its owner's rights
 * (version 8). The summaries come before the indexes: a statement still writing to an ended month waits for an index
 * build to end, and the summary for that statement.
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA.ensure_partitions(months_ahead integer DEFAULT 3) RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  created text[];
BEGIN
  PERFORM :AUDITRUM_SCHEMA._lock_partitions(months_ahead);
  created := :AUDITRUM_SCHEMA._ensure_monthly_partitions('changes', 'changed_at', months_ahead);
  PERFORM :AUDITRUM_SCHEMA._ensure_monthly_partitions('api_requests', 'requested_at', months_ahead);
  PERFORM :AUDITRUM_SCHEMA._summarize_ended_months();
  PERFORM :AUDITRUM_SCHEMA._index_ended_partitions();
  RETURN created;
END;
$$;

-- The change log's months that have ended get their summaries now.
SELECT :AUDITRUM_SCHEMA._summarize_ended_months();
