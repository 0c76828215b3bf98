-- Auditrum schema, version 41: the summary of departures (version 38) made in under a second at 10,000,000 changes,
-- and laid out as a page reads it.
--
-- _summarize_departures() (version 38's) tested each UPDATE of the current month against its table's key names, and
-- the planner computed those names (_history_key_names) again for every UPDATE: making the summary anew took 10.8 s
-- for a month of 650,000 changes (at migrate() after an upgrade, after an erasure, or when the log was emptied). The
-- names are now found once per table (0.85–0.93 s). And it wrote the departures in the order the log was read, a
-- busy table's 60,000 of them on as many pages: a page of a table as of a time reads them by table and id, and now
-- finds them together. Replaced: _summarize_departures.

/**
 * Adds the departures of the settled changes above each tracked table's kept_departures_tables.summarized_to to
 * kept_departures, from table_departures_since() on; a table whose summary no longer holds (another state of the log,
 * its anchor gone, a `since` moved back) is summarized again from the start, one whose `since` moved on (a month
 * indexed since) loses the departures before it. The tables no longer tracked, and all when every month is indexed,
 * are forgotten. Nothing when the ids are not settled within a second (a transaction left open: the next call goes
 * on). One pass over the log's changes per distinct starting id (the tables summarized together share it). The caller
 * holds the partitions lock (_lock_partitions).
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._summarize_departures() RETURNS void
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
      -- (OFFSET 0: each table's key names found once, not for each of its changes: 10.8 s against 0.9 for a month of
      -- 650,000 changes.)
      JOIN (SELECT tt.id, tt AS t, :AUDITRUM_SCHEMA._history_key_names(tt) AS names
            FROM :AUDITRUM_SCHEMA.tracked_tables tt WHERE tt.id = ANY (starts.ids) OFFSET 0) k ON k.id = c.table_id
    WHERE c.id > starts.after_id AND c.id <= settled AND c.changed_at >= from_at
      AND (c.operation = 'DELETE' OR (c.operation = 'UPDATE' AND c.old_values ?| k.names))
    -- Each table's rows together, in id order, as a new admin mount reads them (in the log's order, a table's 60,000
    -- departures of a busy month lay on as many pages: 45 ms to read against 17).
    ORDER BY c.table_id, c.id;
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
