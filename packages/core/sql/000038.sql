-- Auditrum schema, version 38: the admin's summary of departures kept by ensure_partitions(), so that the first page
-- of a table as of a time on a new admin mount, and the recycle bin's first page after a large import, do not read
-- the whole current month.
--
-- table_as_of_page takes the admin's summary of the departures (DELETEs and key changes) of the months without a
-- departures index (version 28: the current month, the default partition, months ahead). Each admin mount built it
-- in memory on its first page of each table (table-departures.ts), reading the table's changes of those months: at
-- 10,000,000 changes at a month's end, 441–474 ms of server CPU. The recycle bin read the current month's newest
-- changes by id, at most 50,000 for a first page, so an import larger than that left its first page empty. Capture
-- cannot keep either (an index on the current month costs every captured change). ensure_partitions() (at migrate(),
-- on the partition maintainer's timer, `auditrum partitions`) now keeps them in `kept_departures` for every tracked
-- table, over the settled ids (version 34's _settled_ids), adding only the changes since its last call; a new admin
-- mount adopts a table's (when the log's state it rests on, table_departures_state, is the same) and reads only the
-- changes above it, and the recycle bin reads the table's DELETEs from it, the changes above it from the log.
-- Capture does nothing more. Replaced: ensure_partitions (version 37's).

-- The departures of each tracked table (by its tracked_tables id) with a change id up to kept_departures_tables'
-- summarized_to and a changed_at from its `since` on: a DELETE's row_key as `gone_key` (NULL for a DELETE without a
-- key; `move` NULL), a key change as `move` {id, changed_at, old_key} (as table_departures returns it); `at_us`, the
-- change's changed_at in microseconds since 1970.
CREATE TABLE :AUDITRUM_SCHEMA.kept_departures (
  table_id integer NOT NULL,
  id bigint NOT NULL,
  at_us bigint NOT NULL,
  gone_key text,
  move jsonb,
  PRIMARY KEY (table_id, id)
);

-- Per table kept: since when (table_departures_since() when it was read), under which state of the log
-- (table_departures_state: purges, erasures, the table's key), up to which id, and the newest change it counts (the
-- anchor, as transaction_blocks_kept's: when that change is gone or another one, the log was emptied and its ids
-- drawn again, and the table's summary is made again from the start).
CREATE TABLE :AUDITRUM_SCHEMA.kept_departures_tables (
  table_id integer PRIMARY KEY,
  since timestamptz NOT NULL,
  state text NOT NULL,
  summarized_to bigint NOT NULL,
  anchor_id bigint NOT NULL,
  anchor_at timestamptz NOT NULL,
  anchor_txid bigint NOT NULL
);

/**
 * Adds the departures of the settled changes above each tracked table's kept_departures_tables.summarized_to to
 * kept_departures, from table_departures_since() on; a table whose summary no longer holds (another state of the log,
 * its anchor gone, a `since` moved back) is summarized again from the start, one whose `since` moved on (a month
 * indexed since) loses the departures before it. The tables no longer tracked, and all when every month is indexed,
 * are forgotten. Nothing when the ids are not settled within a second (a transaction left open: the next call goes
 * on). One pass over the log's changes per distinct starting id (the tables summarized together share it). The caller
 * holds the partitions lock (_lock_partitions).
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._summarize_departures() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  from_at timestamptz := :AUDITRUM_SCHEMA.table_departures_since();
  from_us bigint;
  settled bigint;
  anchor record;
  tbl record;
  states text[] := '{}';
  tables integer[] := '{}';
  afters bigint[] := '{}';
  starts record;
BEGIN
  DELETE FROM :AUDITRUM_SCHEMA.kept_departures_tables k
  WHERE from_at = 'infinity' OR NOT EXISTS (SELECT FROM :AUDITRUM_SCHEMA.tracked_tables tt
    WHERE tt.id = k.table_id AND tt.untracked_at IS NULL);
  DELETE FROM :AUDITRUM_SCHEMA.kept_departures d
  WHERE NOT EXISTS (SELECT FROM :AUDITRUM_SCHEMA.kept_departures_tables k WHERE k.table_id = d.table_id);
  IF from_at = 'infinity' THEN
    RETURN;
  END IF;
  settled := :AUDITRUM_SCHEMA._settled_ids(interval '1 second');
  IF settled IS NULL THEN
    RETURN;
  END IF;
  SELECT c.id, c.changed_at, c.txid INTO anchor FROM :AUDITRUM_SCHEMA.changes c
  WHERE c.id <= settled ORDER BY c.id DESC LIMIT 1;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  from_us := CASE WHEN isfinite(from_at) THEN (extract(epoch FROM from_at) * 1000000)::bigint END;
  -- Each tracked table: its state now, and from which id its summary goes on (0: made again from the start).
  FOR tbl IN
    SELECT tt.id, s.state, CASE WHEN k.state = s.state AND k.since <= from_at
        AND EXISTS (SELECT FROM :AUDITRUM_SCHEMA.changes c
                    WHERE c.id = k.anchor_id AND c.changed_at = k.anchor_at AND c.txid = k.anchor_txid)
        THEN k.summarized_to ELSE 0 END AS after_id, k.since AS was_since
    FROM :AUDITRUM_SCHEMA.tracked_tables tt
      CROSS JOIN LATERAL (SELECT :AUDITRUM_SCHEMA.table_departures_state(tt.relid::regclass) AS state) s
      LEFT JOIN :AUDITRUM_SCHEMA.kept_departures_tables k ON k.table_id = tt.id
    WHERE tt.untracked_at IS NULL AND EXISTS (SELECT FROM pg_class r WHERE r.oid = tt.relid)
  LOOP
    IF tbl.after_id = 0 OR tbl.state IS NULL THEN
      DELETE FROM :AUDITRUM_SCHEMA.kept_departures d WHERE d.table_id = tbl.id;
      DELETE FROM :AUDITRUM_SCHEMA.kept_departures_tables k WHERE k.table_id = tbl.id;
    ELSIF tbl.was_since < from_at THEN
      -- The months indexed since: their departures are read from the index.
      DELETE FROM :AUDITRUM_SCHEMA.kept_departures d WHERE d.table_id = tbl.id AND d.at_us < from_us;
    END IF;
    -- (A state that cannot be read, the erasures unreadable to the owner: no summary, one could not tell it stale.)
    IF tbl.state IS NOT NULL THEN
      tables := tables || tbl.id;
      states := states || tbl.state;
      afters := afters || tbl.after_id;
    END IF;
  END LOOP;
  FOR starts IN
    SELECT x.after_id, array_agg(x.table_id) AS ids FROM unnest(tables, afters) AS x(table_id, after_id)
    WHERE x.after_id < settled GROUP BY x.after_id
  LOOP
    INSERT INTO :AUDITRUM_SCHEMA.kept_departures (table_id, id, at_us, gone_key, move)
    SELECT c.table_id, c.id, (extract(epoch FROM c.changed_at) * 1000000)::bigint,
      CASE WHEN c.operation = 'DELETE' THEN c.row_key END,
      CASE WHEN c.operation = 'UPDATE' THEN jsonb_build_object('id', c.id, 'changed_at', c.changed_at,
        'old_key', :AUDITRUM_SCHEMA._history_old_key(k.t, c.id)) END
    FROM :AUDITRUM_SCHEMA.changes c
      JOIN (SELECT tt.id, tt AS t, :AUDITRUM_SCHEMA._history_key_names(tt) AS names
            FROM :AUDITRUM_SCHEMA.tracked_tables tt WHERE tt.id = ANY (starts.ids)) k ON k.id = c.table_id
    WHERE c.id > starts.after_id AND c.id <= settled AND c.changed_at >= from_at
      AND (c.operation = 'DELETE' OR (c.operation = 'UPDATE' AND c.old_values ?| k.names));
  END LOOP;
  INSERT INTO :AUDITRUM_SCHEMA.kept_departures_tables AS k
    (table_id, since, state, summarized_to, anchor_id, anchor_at, anchor_txid)
  SELECT x.table_id, from_at, x.state, greatest(settled, x.after_id), anchor.id, anchor.changed_at, anchor.txid
  FROM unnest(tables, states, afters) AS x(table_id, state, after_id)
  ON CONFLICT (table_id) DO UPDATE SET since = excluded.since, state = excluded.state,
    summarized_to = excluded.summarized_to, anchor_id = excluded.anchor_id, anchor_at = excluded.anchor_at,
    anchor_txid = excluded.anchor_txid;
END;
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._summarize_departures() FROM PUBLIC;

/**
 * Creates the monthly partitions of the change log and of the API-request log from the current month (UTC) to
 * `months_ahead` months ahead, brings the change log's summaries of each hour's ids up to date (version 36), indexes
 * its ended months (the departures index, version 22, and txid, version 26), adds the settled changes to the summary
 * of transactions (version 37) and the tables' departures in the months without a departures index to
 * kept_departures (version 38). Returns the change-log partitions it created, as in version 1 (the API-request log's
 * are named api_requests_pYYYY_MM). Rows that already landed in a default partition for such a month are moved into
 * the new partition, so a late call never fails. Runs with its owner's rights (version 8). The summaries of hours come
 * before the indexes: a statement still writing to an ended month waits for an index build to end, and the summary
 * for that statement; the summaries of transactions and departures come after them, to leave out the months indexed
 * now.
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
  PERFORM :AUDITRUM_SCHEMA._summarize_transactions();
  PERFORM :AUDITRUM_SCHEMA._summarize_departures();
  RETURN created;
END;
$$;

SELECT :AUDITRUM_SCHEMA._grant_log_readers(format('%I.kept_departures', :'AUDITRUM_SCHEMA')::regclass);
SELECT :AUDITRUM_SCHEMA._grant_log_readers(format('%I.kept_departures_tables', :'AUDITRUM_SCHEMA')::regclass);
