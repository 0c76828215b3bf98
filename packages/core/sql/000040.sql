-- Auditrum schema, version 40: the fold's state of a row changed very many times, kept every 1,000 versions by
-- ensure_partitions(), so that a page of the row's history folds from the nearest kept state below it.
--
-- A version's state (the admin's row history, row-history.ts) depends on every earlier change of the row, so each
-- page folded the row's changes from its first: for a row changed 200,000 times, 746 ms of server CPU and 1.4–1.9 s
-- for its newest page at 10,000,000 changes. Capture cannot keep the state (it would cost every captured change), so
-- ensure_partitions() (at migrate(), on the partition maintainer's timer, `auditrum partitions`) keeps it in
-- `history_checkpoints` for the busy rows, over the settled ids (version 34's _settled_ids), adding only what the
-- changes since its last call need. A kept state names, for each column of the state, the change (and the side, new
-- or old values) the fold took its value from, never the value itself: the admin reads those changes as it reads any
-- change (erased values, oversized markers, the reader's rights), so the state it rebuilds is the fold's exactly.
-- The states stand for the log as it was when they were made: an erasure (which may give some of a row's versions
-- another key) or a purge (which removes a row's first changes) since then, or the log emptied and its ids drawn
-- again, makes the reader ignore them all (_history_checkpoints_current) and fold from the first change as before,
-- and the next ensure_partitions() makes them again from the start. Capture does nothing more.
-- Replaced: ensure_partitions (version 38's).

-- Per busy row, the fold's state after every 1,000th version (history_checkpoints_kept.every): after the change
-- `change_id` (the row's own, or a TRUNCATE of its table that ended it), `versions` versions in all, the latest time
-- among them `latest_at`; `complete` and `present` are the fold's (an INSERT or DELETE seen; the row exists);
-- `state` is null when the row does not exist, else [[column, change id, "new" or "old"], ...] in the order of the
-- state's columns.
CREATE TABLE :AUDITRUM_SCHEMA.history_checkpoints (
  table_id integer NOT NULL,
  row_key text NOT NULL,
  change_id bigint NOT NULL,
  versions bigint NOT NULL,
  latest_at timestamptz NOT NULL,
  complete boolean NOT NULL,
  present boolean NOT NULL,
  state jsonb,
  PRIMARY KEY (table_id, row_key, change_id)
);

-- One row: the changes the kept states account for (ids up to kept_to), every how many versions, the newest change
-- among them (the anchor, as transaction_blocks_kept keeps one), and the erasures and purges there were
-- (_history_log_marks): when any of them differs now, the states are not the log's.
CREATE TABLE :AUDITRUM_SCHEMA.history_checkpoints_kept (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  every integer NOT NULL,
  kept_to bigint NOT NULL,
  anchor_id bigint NOT NULL,
  anchor_at timestamptz NOT NULL,
  anchor_txid bigint NOT NULL,
  erasures text NOT NULL,
  purges text NOT NULL
);

/**
 * What the log has been through that a kept state cannot follow: the newest erasure (one transaction each, its row
 * never changed after), and every purge's record (a purge updates its record at each of its steps).
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._history_log_marks(OUT erasures text, OUT purges text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce((SELECT max(e.id) FROM :AUDITRUM_SCHEMA.erasures e), 0)::text,
    md5(coalesce((SELECT string_agg(p::text, ',' ORDER BY p.id) FROM :AUDITRUM_SCHEMA.purges p), ''));
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._history_log_marks() FROM PUBLIC;

/**
 * Whether the kept states are the log's: their newest change is still there, no erasure or purge since. With its
 * owner's rights (a reader of the log may not read erasures or purges); it tells nothing else.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._history_checkpoints_current() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (
    SELECT FROM :AUDITRUM_SCHEMA.history_checkpoints_kept k, :AUDITRUM_SCHEMA._history_log_marks() m
    WHERE k.erasures = m.erasures AND k.purges = m.purges
      AND EXISTS (SELECT FROM :AUDITRUM_SCHEMA.changes c
                  WHERE c.id = k.anchor_id AND c.changed_at = k.anchor_at AND c.txid = k.anchor_txid));
$$;

/**
 * A row's kept states, oldest first, for a reader that may read them (none otherwise, or when they are not the
 * log's): the change each follows, its versions, and the latest time among them in microseconds since 1970.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._history_row_checkpoints(table_id integer, row_key text)
RETURNS TABLE (change_id bigint, versions bigint, latest_micros bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT has_table_privilege(format('%I.history_checkpoints', :'AUDITRUM_SCHEMA'), 'SELECT')
     OR NOT :AUDITRUM_SCHEMA._history_checkpoints_current() THEN
    RETURN;
  END IF;
  RETURN QUERY SELECT h.change_id, h.versions,
      (extract(epoch FROM h.latest_at) * 1000000)::bigint
    FROM :AUDITRUM_SCHEMA.history_checkpoints h
    WHERE h.table_id = _history_row_checkpoints.table_id AND h.row_key = _history_row_checkpoints.row_key
    ORDER BY h.change_id;
END;
$$;

/**
 * Folds one row's changes (and its table's TRUNCATEs) from its newest kept state, or its first change, up to the id
 * `upto`, as the admin's fold does (row-history.ts), keeping the state after every `each`th version. Nothing when the
 * row has fewer than `each` changes since.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._keep_row_checkpoints(tid integer, key text, upto bigint, each integer)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  last record;
  after bigint := 0;
  folded bigint := 0;
  latest_time timestamptz := '-infinity';
  had_image boolean := false;
  row_exists boolean := false;
  has_state boolean := false;
  columns text[] := '{}';
  sources jsonb := '{}';
  since integer := 0;
  c record;
  old_columns text[];
  new_columns text[];
BEGIN
  SELECT h.* INTO last FROM :AUDITRUM_SCHEMA.history_checkpoints h
  WHERE h.table_id = tid AND h.row_key = key ORDER BY h.change_id DESC LIMIT 1;
  IF FOUND THEN
    after := last.change_id;
    folded := last.versions;
    latest_time := last.latest_at;
    had_image := last.complete;
    row_exists := last.present;
    has_state := last.state IS NOT NULL;
    columns := ARRAY(SELECT e.value ->> 0 FROM jsonb_array_elements(last.state) WITH ORDINALITY e ORDER BY e.ordinality);
    sources := coalesce((SELECT jsonb_object_agg(e.value ->> 0, jsonb_build_array(e.value -> 1, e.value -> 2))
                         FROM jsonb_array_elements(last.state) e), '{}');
  END IF;
  IF (SELECT count(*) FROM (SELECT FROM :AUDITRUM_SCHEMA.changes x
                            WHERE x.table_id = tid AND x.row_key = key AND x.id > after AND x.id <= upto
                            LIMIT each) n) < each THEN
    RETURN;
  END IF;
  FOR c IN
    SELECT x.id, x.changed_at, x.operation, x.old_values, x.new_values FROM :AUDITRUM_SCHEMA.changes x
    WHERE x.table_id = tid AND x.row_key = key AND x.id > after AND x.id <= upto
    UNION ALL
    SELECT x.id, x.changed_at, x.operation, NULL, NULL FROM :AUDITRUM_SCHEMA.changes x
    WHERE x.table_id = tid AND x.row_key IS NULL AND x.operation = 'TRUNCATE' AND x.id > after AND x.id <= upto
    ORDER BY 1
  LOOP
    -- A TRUNCATE while the row does not exist makes no version.
    CONTINUE WHEN c.operation = 'TRUNCATE' AND NOT row_exists;
    -- A value's columns in its order, without the oversized listing (key '', which no column can have).
    new_columns := ARRAY(SELECT k.key FROM jsonb_each(coalesce(c.new_values, '{}')) WITH ORDINALITY k
                         WHERE k.key <> '' ORDER BY k.ordinality);
    IF c.operation = 'INSERT' THEN
      columns := new_columns;
      sources := coalesce((SELECT jsonb_object_agg(n, jsonb_build_array(c.id, 'new')) FROM unnest(new_columns) n), '{}');
      had_image := true;
      has_state := true;
    ELSIF c.operation = 'UPDATE' THEN
      IF NOT had_image THEN
        -- {...old, ...state, ...new}: the old values' columns first, the state's own after them.
        old_columns := ARRAY(SELECT k.key FROM jsonb_each(coalesce(c.old_values, '{}')) WITH ORDINALITY k
                             WHERE k.key <> '' ORDER BY k.ordinality);
        sources := coalesce((SELECT jsonb_object_agg(o, jsonb_build_array(c.id, 'old')) FROM unnest(old_columns) o
                             WHERE NOT sources ? o), '{}') || sources;
        columns := old_columns || ARRAY(SELECT s FROM unnest(columns) WITH ORDINALITY s WHERE s <> ALL (old_columns)
                                        ORDER BY ordinality);
      END IF;
      sources := sources || coalesce((SELECT jsonb_object_agg(n, jsonb_build_array(c.id, 'new'))
                                      FROM unnest(new_columns) n), '{}');
      columns := columns || ARRAY(SELECT n FROM unnest(new_columns) WITH ORDINALITY n WHERE n <> ALL (columns)
                                  ORDER BY ordinality);
      has_state := true;
    ELSE
      columns := '{}';
      sources := '{}';
      had_image := true;
      has_state := false;
    END IF;
    row_exists := c.operation IN ('INSERT', 'UPDATE');
    folded := folded + 1;
    latest_time := greatest(latest_time, c.changed_at);
    since := since + 1;
    IF since >= each THEN
      INSERT INTO :AUDITRUM_SCHEMA.history_checkpoints
        (table_id, row_key, change_id, versions, latest_at, complete, present, state)
      VALUES (tid, key, c.id, folded, latest_time, had_image, row_exists,
        CASE WHEN has_state THEN
          coalesce((SELECT jsonb_agg(jsonb_build_array(s, sources -> s -> 0, sources -> s -> 1) ORDER BY ordinality)
                    FROM unnest(columns) WITH ORDINALITY s), '[]')
        END);
      since := 0;
    END IF;
  END LOOP;
END;
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._keep_row_checkpoints(integer, text, bigint, integer) FROM PUBLIC;

/**
 * Brings the kept states up to date with the settled changes above history_checkpoints_kept.kept_to, at most a million
 * ids a call (a log of ten million is caught up in ten calls), or makes them again from the start when they are not
 * the log's (an erasure, a purge, the anchor gone). A row is kept when a million ids hold 50 of its changes or more
 * and it has 1,000 since its last kept state; one kept already is followed at every call that sees a change of it.
 * Nothing when the ids are not settled within a second. The caller holds the partitions lock (_lock_partitions).
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._keep_history_checkpoints() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  each constant integer := 1000;
  step constant bigint := 1000000;
  busy constant integer := 50;
  marks record;
  kept bigint;
  settled bigint;
  upto bigint;
  anchor record;
  r record;
BEGIN
  -- Read first: a purge or erasure that lands while the states are made leaves them marked as before it.
  SELECT * INTO marks FROM :AUDITRUM_SCHEMA._history_log_marks();
  SELECT k.kept_to INTO kept FROM :AUDITRUM_SCHEMA.history_checkpoints_kept k
  WHERE k.every = each AND k.erasures = marks.erasures AND k.purges = marks.purges
    AND EXISTS (SELECT FROM :AUDITRUM_SCHEMA.changes c
                WHERE c.id = k.anchor_id AND c.changed_at = k.anchor_at AND c.txid = k.anchor_txid);
  IF NOT FOUND THEN
    kept := 0;
    DELETE FROM :AUDITRUM_SCHEMA.history_checkpoints;
    DELETE FROM :AUDITRUM_SCHEMA.history_checkpoints_kept;
  END IF;
  settled := :AUDITRUM_SCHEMA._settled_ids(interval '1 second');
  IF settled IS NULL OR settled <= kept THEN
    RETURN;
  END IF;
  upto := least(settled, kept + step);
  SELECT c.id, c.changed_at, c.txid INTO anchor FROM :AUDITRUM_SCHEMA.changes c
  WHERE c.id <= upto ORDER BY c.id DESC LIMIT 1;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  FOR r IN
    SELECT c.table_id, c.row_key FROM :AUDITRUM_SCHEMA.changes c
    WHERE c.id > kept AND c.id <= upto AND c.row_key IS NOT NULL
    GROUP BY c.table_id, c.row_key HAVING count(*) >= busy
    UNION
    SELECT h.table_id, h.row_key FROM (SELECT DISTINCT h.table_id, h.row_key
                                       FROM :AUDITRUM_SCHEMA.history_checkpoints h) h
    WHERE EXISTS (SELECT FROM :AUDITRUM_SCHEMA.changes c
                  WHERE c.table_id = h.table_id AND c.row_key = h.row_key AND c.id > kept AND c.id <= upto)
  LOOP
    PERFORM :AUDITRUM_SCHEMA._keep_row_checkpoints(r.table_id, r.row_key, upto, each);
  END LOOP;
  INSERT INTO :AUDITRUM_SCHEMA.history_checkpoints_kept AS k
    (every, kept_to, anchor_id, anchor_at, anchor_txid, erasures, purges)
  VALUES (each, upto, anchor.id, anchor.changed_at, anchor.txid, marks.erasures, marks.purges)
  ON CONFLICT (only_row) DO UPDATE SET every = excluded.every, kept_to = excluded.kept_to,
    anchor_id = excluded.anchor_id, anchor_at = excluded.anchor_at, anchor_txid = excluded.anchor_txid,
    erasures = excluded.erasures, purges = excluded.purges;
END;
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._keep_history_checkpoints() FROM PUBLIC;

/**
 * Creates the monthly partitions of the change log and of the API-request log from the current month (UTC) to
 * `months_ahead` months ahead, brings the change log's summaries of each hour's ids up to date (version 36), indexes
 * its ended months (the departures index, version 22, and txid, version 26), adds the settled changes to the summary
 * of transactions (version 37) and the tables' departures in the months without a departures index to
 * kept_departures (version 38), and keeps the fold's state of the busy rows (version 40). Returns the change-log
 * partitions it created, as in version 1 (the API-request log's are named api_requests_pYYYY_MM). Rows that already
 * landed in a default partition for such a month are moved into the new partition, so a late call never fails. Runs
 * with its owner's rights (version 8). The summaries of hours come before the indexes: a statement still writing to an
 * ended month waits for an index build to end, and the summary for that statement; the summaries of transactions and
 * departures come after them, to leave out the months indexed now.
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
  PERFORM :AUDITRUM_SCHEMA._keep_history_checkpoints();
  RETURN created;
END;
$$;

SELECT :AUDITRUM_SCHEMA._grant_log_readers(format('%I.history_checkpoints', :'AUDITRUM_SCHEMA')::regclass);
SELECT :AUDITRUM_SCHEMA._grant_log_readers(format('%I.history_checkpoints_kept', :'AUDITRUM_SCHEMA')::regclass);
