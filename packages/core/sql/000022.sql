-- Auditrum schema, version 22: an index of the changes that take a key away (DELETEs and key changes) on every month
-- of the change log that has ended, for a table as of a time months back.
--
-- table_as_of_page (versions 11 and 16) finds the rows gone since the time from the DELETEs and key changes after
-- it; without an index that holds them it reads every change of the table since (150,000 of the 500,000 changes of
-- the benchmark's log for 2 months: 50–70 ms of server CPU). An index on the log costs every captured change, a partial
-- one too: PostgreSQL opens it and tests its predicate for every row written (docs/benchmarks.md, "Session 8": +15k
-- instructions for a single-row UPDATE or INSERT, +26k for a DELETE). But capture writes only into the current
-- month's partition: an index made on a month once it has ended costs capture nothing. So ensure_partitions() (at
-- migrate(), on the partition maintainer's timer, `auditrum partitions`) now also makes, on each ended month's
-- partition, the departures index: its DELETEs and the UPDATEs whose old values hold the key column name of a tracked
-- table, (table_id, operation, changed_at) INCLUDE (row_key). table_as_of_page reads the DELETEs from it alone, and
-- the current month as before. enable_table_as_of_index() makes the same index on every partition, the current month's
-- too (then capture pays for it). Replaced: ensure_partitions (version 2's, owner's rights as version 8 made it) and
-- table_as_of_page (version 16's).

-- The names of the key columns of every tracked table, in any recorded state: an UPDATE whose old values hold one of
-- them may have changed a key (for the table whose key it is; for another table it was an ordinary column).
CREATE FUNCTION :AUDITRUM_SCHEMA._all_key_names() RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(array_agg(DISTINCT col.name ORDER BY col.name), '{}')
  FROM :AUDITRUM_SCHEMA.table_versions tv
  CROSS JOIN LATERAL jsonb_to_recordset(tv.columns) AS col(name text, key boolean)
  WHERE col.key
$$;

-- The departures index's predicate for these key column names: the DELETEs, and the UPDATEs whose old values hold one
-- of them (an INSERT has none). A reader repeats it word for word, so that the planner may use the index.
CREATE FUNCTION :AUDITRUM_SCHEMA._departures_predicate(key_names text[]) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format('(operation = ''DELETE'' OR old_values ?| %L::text[])', key_names)
$$;

-- What a departures index made for these names says in its comment: an index is current when it says what the
-- names now give (a table tracked since with a key column of another name makes the older ones stale: not read).
CREATE FUNCTION :AUDITRUM_SCHEMA._departures_tag(key_names text[]) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT 'auditrum departures ' || key_names::text
$$;

-- Makes the departures index on each partition of the change log whose month has ended and that has no current one;
-- returns the partitions indexed. Capture no longer writes there, so it pays nothing for them (a statement that began
-- before the month's end and writes meanwhile waits for the build). Nothing while the host keeps the index on every
-- partition (enable_table_as_of_index()). The caller holds the partitions lock (_lock_partitions).
CREATE FUNCTION :AUDITRUM_SCHEMA._index_ended_partitions() RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  key_names text[] := :AUDITRUM_SCHEMA._all_key_names();
  tag text := :AUDITRUM_SCHEMA._departures_tag(key_names);
  part name;
  made text[] := '{}';
BEGIN
  IF to_regclass(format('%I.changes_departures_idx', :'AUDITRUM_SCHEMA')) IS NOT NULL THEN
    RETURN made;
  END IF;
  FOR part IN
    SELECT c.relname FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
    WHERE h.inhparent = format('%I.changes', :'AUDITRUM_SCHEMA')::regclass AND c.relname ~ '^changes_p[0-9]{4}_[0-9]{2}$'
      AND ((to_date(substr(c.relname, 10), 'YYYY_MM') + interval '1 month')::timestamp AT TIME ZONE 'UTC') <= now()
      AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND i.indisvalid
        AND obj_description(i.indexrelid, 'pg_class') = tag)
    ORDER BY c.relname
  LOOP
    IF to_regclass(format('%I.%I', :'AUDITRUM_SCHEMA', part || '_departures_idx')) IS NOT NULL THEN
      EXECUTE format('DROP INDEX %I.%I', :'AUDITRUM_SCHEMA', part || '_departures_idx');
    END IF;
    EXECUTE format('CREATE INDEX %I ON %I.%I (table_id, operation, changed_at) INCLUDE (row_key) WHERE %s',
      part || '_departures_idx', :'AUDITRUM_SCHEMA', part, :AUDITRUM_SCHEMA._departures_predicate(key_names));
    EXECUTE format('COMMENT ON INDEX %I.%I IS %L', :'AUDITRUM_SCHEMA', part || '_departures_idx', tag);
    made := made || part::text;
  END LOOP;
  RETURN made;
END;
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._index_ended_partitions() FROM PUBLIC;

/**
 * Creates the monthly partitions of the change log and of the API-request log from the current month (UTC) to
 * `months_ahead` months ahead, and indexes the change log's ended months for a table as of a time (the departures
 * index, version 22). Returns the change-log partitions it created, as in version 1 (the API-request log's are named
 * api_requests_pYYYY_MM). Rows that already landed in a default partition for such a month are moved into the new
 * partition, so a late call never fails. Runs with its owner's rights (version 8).
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA.ensure_partitions(months_ahead integer DEFAULT 3) RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  created text[];
BEGIN
  PERFORM :AUDITRUM_SCHEMA._lock_partitions(months_ahead);
  created := :AUDITRUM_SCHEMA._ensure_monthly_partitions('changes', 'changed_at', months_ahead);
  PERFORM :AUDITRUM_SCHEMA._ensure_monthly_partitions('api_requests', 'requested_at', months_ahead);
  PERFORM :AUDITRUM_SCHEMA._index_ended_partitions();
  RETURN created;
END;
$$;

/**
 * Opt-in: makes the departures index (version 22) on every partition of the change log, the current month's and those
 * made later too, so that a table as of a time within this month is read from it as well. Every captured change then
 * pays for it (docs/admin.md). It replaces the ended months' own; run it again after tracking a table whose key column
 * has a name no other table's has (until then the months are read without it). Builds on every partition, holding a
 * lock that makes writes to the log wait meanwhile. Idempotent; returns the index's name.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.enable_table_as_of_index() RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  key_names text[] := :AUDITRUM_SCHEMA._all_key_names();
  tag text := :AUDITRUM_SCHEMA._departures_tag(key_names);
  part name;
BEGIN
  IF obj_description(to_regclass(format('%I.changes_departures_idx', :'AUDITRUM_SCHEMA')), 'pg_class') IS DISTINCT FROM tag THEN
    IF to_regclass(format('%I.changes_departures_idx', :'AUDITRUM_SCHEMA')) IS NOT NULL THEN
      EXECUTE format('DROP INDEX %I.changes_departures_idx', :'AUDITRUM_SCHEMA');
    END IF;
    -- The ended months' own ones: the parent's covers them (and would take one of them as its partition's).
    FOR part IN
      SELECT ic.relname FROM pg_inherits h JOIN pg_index i ON i.indrelid = h.inhrelid JOIN pg_class ic ON ic.oid = i.indexrelid
      WHERE h.inhparent = format('%I.changes', :'AUDITRUM_SCHEMA')::regclass AND ic.relname ~ '^changes_p[0-9]{4}_[0-9]{2}_departures_idx$'
    LOOP
      EXECUTE format('DROP INDEX %I.%I', :'AUDITRUM_SCHEMA', part);
    END LOOP;
    EXECUTE format('CREATE INDEX changes_departures_idx ON %I.changes (table_id, operation, changed_at) INCLUDE (row_key) WHERE %s',
      :'AUDITRUM_SCHEMA', :AUDITRUM_SCHEMA._departures_predicate(key_names));
    EXECUTE format('COMMENT ON INDEX %I.changes_departures_idx IS %L', :'AUDITRUM_SCHEMA', tag);
  END IF;
  RETURN 'changes_departures_idx';
END;
$$;

-- Up to when a current departures index holds the change log after `at`: the end of the last month after `at` that
-- has one, 'infinity' with the parent one (enable_table_as_of_index()), NULL when none does.
CREATE FUNCTION :AUDITRUM_SCHEMA._departures_indexed_until(at timestamptz, tag text) RETURNS timestamptz
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN obj_description(to_regclass(format('%I.changes_departures_idx', :'AUDITRUM_SCHEMA')), 'pg_class') = tag
    THEN 'infinity'::timestamptz
    ELSE (SELECT max(m.month_end) FROM pg_class ic
      JOIN pg_index i ON i.indexrelid = ic.oid AND i.indisvalid
      CROSS JOIN LATERAL (SELECT (to_date(substr(ic.relname, 10, 7), 'YYYY_MM') + interval '1 month')::timestamp
        AT TIME ZONE 'UTC' AS month_end) m
      WHERE ic.relnamespace = quote_ident(:'AUDITRUM_SCHEMA')::regnamespace AND ic.relkind = 'i'
        AND ic.relname ~ '^changes_p[0-9]{4}_[0-9]{2}_departures_idx$' AND m.month_end > at
        AND obj_description(ic.oid, 'pg_class') = tag) END
$$;

/**
 * Up to `page_size` rows of tracked table `target` that existed at `at`, or may have (`exists` NULL: see
 * row_as_of), as table_as_of returns them, in the order of the table's key (its columns' types, as its primary key
 * sorts them), after the row whose row_key is `after_key` (NULL: from the first), and with `key_contains` only
 * those whose row_key contains that text. See version 11 for how the page's rows are found; the rows gone since
 * `at` are read from the departures index in the months that have it (version 22).
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA.table_as_of_page(target regclass, at timestamptz, after_key text, key_contains text,
  page_size integer)
RETURNS TABLE (row_key text, "exists" boolean, "values" jsonb, unknown jsonb, last_change_id bigint, last_changed_at timestamptz,
  rebuilt_from text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t :AUDITRUM_SCHEMA.tracked_tables := :AUDITRUM_SCHEMA._history_table(target);
  today text[] := :AUDITRUM_SCHEMA._history_columns(t);
  key_names text[] := :AUDITRUM_SCHEMA._history_key_names(t);
  live_columns text;
  live_key text;
  typed text;
  p record;
  rebuild text;
  everything boolean;
  moves jsonb;
  recent boolean;
  all_key_names text[] := :AUDITRUM_SCHEMA._all_key_names();
  indexed_until timestamptz;
  settings_before text[];
  gone text[];
  next_gone integer := 1;
  gone_slice text[];
  skipped integer;
  live_keys text[];
  batch_keys text[];
  position_key text := after_key;
  batch integer := page_size;
  emitted integer := 0;
  r record;
  s record;
  gaps jsonb := :AUDITRUM_SCHEMA._history_gaps(t.id);
BEGIN
  IF at IS NULL OR NOT isfinite(at) THEN
    RAISE EXCEPTION 'auditrum: give a finite time to read table % as of, not %', target, coalesce(at::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF page_size IS NULL OR page_size < 1 OR page_size > 1001 THEN
    RAISE EXCEPTION 'auditrum: a page of table % as of a time holds 1 to 1001 rows, not %', target,
      coalesce(page_size::text, 'NULL') USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- The key columns of the live table, the row_key capture spells from them, and a row_key «k» read back as the
  -- key columns' types (a row, compared and sorted as the primary key sorts).
  SELECT string_agg(format('live.%I', a.attname), ', ' ORDER BY k.ord),
    CASE WHEN count(*) = 1
      THEN format('(%s)::text', min(coalesce(replace(:AUDITRUM_SCHEMA._rendered_value_sql(a.atttypid), '«x»',
        format('live.%I', a.attname)), format('live.%I', a.attname))))
      ELSE format('jsonb_build_array(%s)::text', string_agg(coalesce(replace(:AUDITRUM_SCHEMA._rendered_value_sql(a.atttypid),
        '«x»', format('live.%I', a.attname)), format('live.%I', a.attname)), ', ' ORDER BY k.ord)) END,
    format('(%s)', string_agg(CASE WHEN cardinality(t.key_attnums) = 1
      THEN format('(«k»)::%s', format_type(a.atttypid, a.atttypmod))
      ELSE format('((«k»)::jsonb->>%s)::%s', k.ord - 1, format_type(a.atttypid, a.atttypmod)) END
      -- Sorted as the key column sorts: with its collation (a cast gives the type's default).
      || coalesce((SELECT format(' COLLATE %I.%I', n.nspname, co.collname) FROM pg_collation co
        JOIN pg_namespace n ON n.oid = co.collnamespace WHERE co.oid = a.attcollation), ''), ', ' ORDER BY k.ord))
  INTO live_columns, live_key, typed
  FROM unnest(t.key_attnums) WITH ORDINALITY AS k(num, ord)
  JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum = k.num AND NOT a.attisdropped;

  -- A cursor is the row_key of the previous page's last row: one that is not a key of this table is refused.
  IF after_key IS NOT NULL THEN
    BEGIN
      EXECUTE format('SELECT %s', replace(typed, '«k»', '$1')) USING after_key;
    EXCEPTION WHEN data_exception THEN
      RAISE EXCEPTION 'auditrum: the cursor % is not a row key of table %', after_key, target
        USING ERRCODE = 'invalid_parameter_value';
    END;
  END IF;
  -- The rows gone since `at`: keys of DELETEs after it, and of key changes after it (the old key, found by the old
  -- values: those changes are recorded under the new key).
  everything := EXISTS (SELECT FROM :AUDITRUM_SCHEMA.changes c
      WHERE c.table_id = t.id AND c.row_key IS NULL AND c.operation = 'TRUNCATE' AND c.changed_at > at)
    OR EXISTS (SELECT FROM :AUDITRUM_SCHEMA._history_versions(t) v WHERE v.recorded_at > at
      AND jsonb_path_exists(v.markers, '$.*.reason ? (@ == "untracked_gap")'))
    OR NOT (t.tracked_at <= at)
    -- Within an untracked period a row last recorded may have gone unseen: listed, of unknown existence.
    OR EXISTS (SELECT FROM jsonb_to_recordset(gaps) AS g(start_at timestamptz, end_at timestamptz)
      WHERE g.start_at <= at AND (g.end_at IS NULL OR g.end_at > at));
  -- The months after `at` that a departures index holds (up to indexed_until): their key changes, and their DELETEs'
  -- keys from the index alone, each query repeating the index's predicate so that the planner uses it (the names of
  -- every table's key columns include this table's: it leaves none of its key changes out).
  IF NOT everything THEN
    indexed_until := :AUDITRUM_SCHEMA._departures_indexed_until(at, :AUDITRUM_SCHEMA._departures_tag(all_key_names));
  END IF;
  IF indexed_until IS NOT NULL THEN
    EXECUTE format($s$
      SELECT coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'changed_at', c.changed_at,
          'old_key', %1$s._history_old_key($1, c.id)) ORDER BY c.id), '[]')
      FROM %1$s.changes c
      WHERE c.table_id = %2$s AND c.changed_at > %3$L AND c.changed_at < %4$L AND %5$s AND c.operation = 'UPDATE'
        AND c.old_values ?| $2$s$,
      quote_ident(:'AUDITRUM_SCHEMA'), t.id, at, indexed_until, :AUDITRUM_SCHEMA._departures_predicate(all_key_names))
    INTO moves USING t, key_names;
    EXECUTE format($s$
      SELECT coalesce(array_agg(c.row_key), '{}')
      FROM %1$s.changes c
      WHERE c.table_id = %2$s AND c.changed_at > %3$L AND c.changed_at < %4$L AND c.operation = 'DELETE'
        AND c.row_key IS NOT NULL$s$,
      quote_ident(:'AUDITRUM_SCHEMA'), t.id, at, indexed_until)
    INTO gone;
  ELSE
    moves := '[]';
    gone := '{}';
  END IF;
  -- The rest (everything when the log after `at` does not tell which rows left: see below) in one pass.
  IF indexed_until IS DISTINCT FROM 'infinity' THEN
    -- (Planned with the time itself, so that only the partitions after it are read.) For a time in the last week, the
    -- changes after it are read through the primary key, whose second column changed_at is tested in the index: only
    -- the rows after the time are fetched, where the planner's choice reads every row of the table in the month's
    -- partition (20 against 8 ms for a day of the benchmark's log); settings for this query only, then as they were.
    recent := at > now() - interval '7 days';
    IF recent THEN
      settings_before := ARRAY[current_setting('enable_seqscan'), current_setting('enable_bitmapscan')];
      PERFORM set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true);
    END IF;
    EXECUTE format($s$
      SELECT $3 || coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'changed_at', c.changed_at,
          'old_key', %1$s._history_old_key($1, c.id)) ORDER BY c.id) FILTER (WHERE c.operation = 'UPDATE'), '[]'),
        $4 || coalesce(array_agg(DISTINCT c.row_key) FILTER (WHERE c.operation <> 'UPDATE'), '{}')
      FROM %1$s.changes c
      WHERE c.table_id = %2$s%3$s
        AND ((c.operation = 'DELETE' AND c.row_key IS NOT NULL) OR (c.operation = 'UPDATE' AND c.old_values ?| $2))$s$,
      quote_ident(:'AUDITRUM_SCHEMA'), t.id, CASE WHEN everything THEN '' WHEN indexed_until IS NULL
        THEN format(' AND c.changed_at > %L', at) ELSE format(' AND c.changed_at >= %L', indexed_until) END)
    INTO moves, gone USING t, key_names, moves, gone;
    IF recent THEN
      PERFORM set_config('enable_seqscan', settings_before[1], true), set_config('enable_bitmapscan', settings_before[2], true);
    END IF;
  END IF;
  -- The key changes in id order, as history reads them (those of the two parts may interleave).
  IF indexed_until IS NOT NULL THEN
    moves := (SELECT coalesce(jsonb_agg(m ORDER BY (m->>'id')::bigint), '[]') FROM jsonb_array_elements(moves) AS m);
  END IF;
  -- History's query for one row (keys[1], its parameter $4), run for each key of a batch, with the key changes above.
  p := :AUDITRUM_SCHEMA._history_plan(target, at, 9223372036854775807, ARRAY[''], false, false, moves);
  rebuild := format('SELECT k.key, k.ord, s.* FROM unnest($17::text[]) WITH ORDINALITY AS k(key, ord) '
    'CROSS JOIN LATERAL (%s) s ORDER BY k.ord', regexp_replace(p.query, '\$4(?![0-9])', '(ARRAY[k.key])', 'g'));
  -- Every key the log holds when the log after `at` does not tell which rows left (a TRUNCATE removes rows without
  -- naming them; before tracking began, or while it was interrupted, nothing was recorded).
  IF everything THEN
    SELECT array_agg(DISTINCT c.row_key) INTO gone FROM :AUDITRUM_SCHEMA.changes c
    WHERE c.table_id = t.id AND c.row_key IS NOT NULL;
  END IF;
  -- With the old keys of the key changes: after the cursor and containing the text, each once (sorted by the text
  -- after the key's order, so that equal texts meet), in key order, sorted once here (sorting all of them at every
  -- batch cost more than the rest of a page months back); each batch takes the next slice. A key that is a row again
  -- today is also a live one: the batch takes it once.
  gone := gone || ARRAY(SELECT m.old_key FROM jsonb_to_recordset(moves) AS m(old_key text));
  EXECUTE format($g$SELECT ARRAY(SELECT DISTINCT ON (%1$s, g.k) g.k FROM unnest($1::text[]) AS g(k)
      WHERE ($2::text IS NULL OR %1$s > %2$s) AND ($3::text IS NULL OR strpos(g.k, $3) > 0) ORDER BY %1$s, g.k)$g$,
    replace(typed, '«k»', 'g.k'), replace(typed, '«k»', '$2'))
  INTO gone USING gone, after_key, key_contains;

  LOOP
    EXECUTE format($l$SELECT ARRAY(SELECT %1$s FROM %2$I.%3$I AS live
      WHERE ($1::text IS NULL OR (%4$s) > %5$s) AND ($2::text IS NULL OR strpos(%1$s, $2) > 0)
      ORDER BY %4$s LIMIT $3)$l$, live_key, t.schema_name, t.table_name, live_columns, replace(typed, '«k»', '$1'))
    INTO live_keys USING position_key, key_contains, batch;
    -- The batch: the first `batch` of the live and gone candidates after the position, in key order, each once: of
    -- the gone ones (distinct), from next_gone on, the next `batch` are all it can need (those up to the position
    -- were taken).
    gone_slice := gone[next_gone:next_gone + batch - 1];
    EXECUTE format($m$SELECT ARRAY(SELECT x.k FROM (SELECT unnest($1::text[]) AS k UNION
        SELECT g.k FROM unnest($2::text[]) AS g(k) WHERE $3::text IS NULL OR %1$s > %2$s) x
      ORDER BY %3$s LIMIT $4)$m$, replace(typed, '«k»', 'g.k'), replace(typed, '«k»', '$3'), replace(typed, '«k»', 'x.k'))
    INTO batch_keys USING live_keys, gone_slice, position_key, batch;
    EXECUTE format('SELECT count(*)::integer FROM unnest($1::text[]) AS g(k) WHERE %s <= %s', replace(typed, '«k»', 'g.k'),
      replace(typed, '«k»', '$2'))
    INTO skipped USING gone_slice, batch_keys[cardinality(batch_keys)];
    next_gone := next_gone + skipped;
    EXIT WHEN cardinality(batch_keys) = 0;
    FOR r IN EXECUTE rebuild
      USING p.table_id, at, 9223372036854775807::bigint, NULL::text[], false, p.key_names, p.thresholds, p.plains,
        p.remaps, p.missings, p.markers_after, p.moves, p.truncates, target, p.markers, p.live_dirty, batch_keys
    LOOP
      s := r;
      -- A row rebuilt forwards whose key is entered again after `at` left it in between without a DELETE: a key
      -- change before `at` (one after it is among the moves above) may be what ended it; history looks for it.
      IF r.may_have_moved AND r.rebuilt_from = 'forward' AND r.search_before < 9223372036854775807 THEN
        SELECT * INTO s FROM :AUDITRUM_SCHEMA._history_states(target, at, 9223372036854775807, ARRAY[r.key], false) hs;
      END IF;
      CONTINUE WHEN s.row_key IS NULL OR s."exists" IS FALSE;
      "exists" := s."exists";
      IF "exists" AND gaps <> '[]' THEN
        "exists" := :AUDITRUM_SCHEMA._history_row_existence(t, s.row_key, at, s.last_change_id, gaps);
      END IF;
      row_key := s.row_key;
      "values" := :AUDITRUM_SCHEMA._history_known(s."values", today);
      unknown := :AUDITRUM_SCHEMA._history_unknown(s."values", s.missing, today);
      last_change_id := s.last_change_id;
      last_changed_at := s.last_changed_at;
      rebuilt_from := s.rebuilt_from;
      RETURN NEXT;
      emitted := emitted + 1;
      EXIT WHEN emitted = page_size;
    END LOOP;
    EXIT WHEN emitted = page_size OR cardinality(batch_keys) < batch;
    position_key := batch_keys[cardinality(batch_keys)];
    batch := least(batch * 2, 1000);
  END LOOP;
END;
$$;

-- The change log's months that have ended get their departures index now.
SELECT :AUDITRUM_SCHEMA._index_ended_partitions();
