-- Auditrum schema, version 22: an optional index of the changes that take a key away (DELETEs and key changes), for
-- a table as of a time months back.
--
-- table_as_of_page (versions 11 and 16) finds the rows gone since the time from the DELETEs and key changes after
-- it; without an index that holds them it reads every change of the table since (500,000 rows of the benchmark's log
-- for 2 months, 50–130 ms of server CPU). enable_table_as_of_index() creates a partial index holding only those rows,
-- (table_id, changed_at) INCLUDE (operation, row_key), on every partition and on those made later. It is not created by default:
-- an index on the log costs every captured change, a partial one too (PostgreSQL opens it and tests its predicate for
-- every row written: about +9k instructions for a single-row UPDATE or INSERT, +17k for a DELETE; docs/benchmarks.md,
-- "Session 8"). Replaced: table_as_of_page (version 16's), which reads the index when it holds the table's key
-- changes, and otherwise as before.

-- The names of the key columns of every tracked table, in any recorded state: an UPDATE whose old values hold one of
-- them may have changed a key (for the table whose key it is; for another table it was an ordinary column).
CREATE FUNCTION :AUDITRUM_SCHEMA._all_key_names() RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(array_agg(DISTINCT col.name ORDER BY col.name), '{}')
  FROM :AUDITRUM_SCHEMA.table_versions tv
  CROSS JOIN LATERAL jsonb_to_recordset(tv.columns) AS col(name text, key boolean)
  WHERE col.key
$$;

-- The predicate of the departures index (changes_departures_idx, valid, on the change log) when the index holds
-- every DELETE and every UPDATE whose old values hold one of `key_names`; NULL otherwise (no such index, or one made
-- before a table with another key column name was tracked). Tested on a sample row per name, so that what is asked
-- is what the index holds.
CREATE FUNCTION :AUDITRUM_SCHEMA._departures_predicate(key_names text[]) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  predicate text;
  holds boolean;
BEGIN
  SELECT pg_get_expr(i.indpred, i.indrelid) INTO predicate
  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
  WHERE i.indrelid = format('%I.changes', :'AUDITRUM_SCHEMA')::regclass AND ic.relname = 'changes_departures_idx'
    AND i.indisvalid;
  IF predicate IS NULL THEN
    RETURN NULL;
  END IF;
  EXECUTE format($q$SELECT bool_and(%s) FROM (SELECT 'DELETE'::text AS operation, NULL::jsonb AS old_values
      UNION ALL SELECT 'UPDATE', jsonb_build_object(k.name, NULL) FROM unnest($1::text[]) AS k(name)) s$q$, predicate)
  INTO holds USING key_names;
  RETURN CASE WHEN holds THEN predicate END;
END;
$$;

/**
 * Opt-in: creates the departures index, changes_departures_idx: the change log's DELETEs and the UPDATEs whose old
 * values hold a key column of a tracked table (the key changes), by table and time, with their row key. A table as of
 * a time (table_as_of_page: the admin's page, the first rows of its export) then finds the rows gone since that time
 * in it instead of reading every change of the table since. Every captured change pays for it (see above). A table
 * tracked later whose key column has a name no other table's has is not covered (its pages read the log as before)
 * until this is run again, which then makes the index anew. Builds on every partition, holding a lock that makes
 * writes to the log wait meanwhile. Idempotent; returns the index's name.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.enable_table_as_of_index() RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  key_names text[] := :AUDITRUM_SCHEMA._all_key_names();
BEGIN
  IF :AUDITRUM_SCHEMA._departures_predicate(key_names) IS NULL THEN
    EXECUTE format('DROP INDEX IF EXISTS %I.changes_departures_idx', :'AUDITRUM_SCHEMA');
    EXECUTE format($i$CREATE INDEX changes_departures_idx ON %I.changes (table_id, changed_at) INCLUDE (operation, row_key)
      WHERE operation = 'DELETE' OR (operation = 'UPDATE' AND old_values ?| %L::text[])$i$,
      :'AUDITRUM_SCHEMA', key_names);
  END IF;
  RETURN 'changes_departures_idx';
END;
$$;

/**
 * Up to `page_size` rows of tracked table `target` that existed at `at`, or may have (`exists` NULL: see
 * row_as_of), as table_as_of returns them, in the order of the table's key (its columns' types, as its primary key
 * sorts them), after the row whose row_key is `after_key` (NULL: from the first), and with `key_contains` only
 * those whose row_key contains that text. See version 11 for how the page's rows are found; the rows gone since
 * `at` are read from the departures index when there is one that holds this table's key changes (version 22).
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
  departures text := :AUDITRUM_SCHEMA._departures_predicate(key_names);
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
  IF departures IS NOT NULL AND NOT everything THEN
    -- The optional departures index (enable_table_as_of_index()) holds the DELETEs and key changes: both read from
    -- it, each query repeating its predicate so that the planner may use it (the DELETEs' keys from the index alone).
    EXECUTE format($s$
      SELECT coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'changed_at', c.changed_at,
          'old_key', %1$s._history_old_key($1, c.id)) ORDER BY c.id), '[]')
      FROM %1$s.changes c
      WHERE c.table_id = %2$s AND c.changed_at > %3$L AND (%4$s) AND c.operation = 'UPDATE' AND c.old_values ?| $2$s$,
      quote_ident(:'AUDITRUM_SCHEMA'), t.id, at, departures)
    INTO moves USING t, key_names;
    EXECUTE format($s$
      SELECT coalesce(array_agg(c.row_key), '{}')
      FROM %1$s.changes c
      WHERE c.table_id = %2$s AND c.changed_at > %3$L AND (%4$s) AND c.operation = 'DELETE' AND c.row_key IS NOT NULL$s$,
      quote_ident(:'AUDITRUM_SCHEMA'), t.id, at, departures)
    INTO gone;
  ELSE
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
      SELECT coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'changed_at', c.changed_at,
          'old_key', %1$s._history_old_key($1, c.id)) ORDER BY c.id) FILTER (WHERE c.operation = 'UPDATE'), '[]'),
        coalesce(array_agg(DISTINCT c.row_key) FILTER (WHERE c.operation <> 'UPDATE'), '{}')
      FROM %1$s.changes c
      WHERE c.table_id = %2$s%3$s
        AND ((c.operation = 'DELETE' AND c.row_key IS NOT NULL) OR (c.operation = 'UPDATE' AND c.old_values ?| $2))$s$,
      quote_ident(:'AUDITRUM_SCHEMA'), t.id, CASE WHEN everything THEN '' ELSE format(' AND c.changed_at > %L', at) END)
    INTO moves, gone USING t, key_names;
    IF recent THEN
      PERFORM set_config('enable_seqscan', settings_before[1], true), set_config('enable_bitmapscan', settings_before[2], true);
    END IF;
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
  -- With the old keys of the key changes: after the cursor and containing the text, each once, in key order, sorted
  -- once here (sorting all of them at every batch cost more than the rest of a page months back); each batch takes
  -- the next slice. A key that is a row again today is also a live one: the batch takes it once.
  gone := gone || ARRAY(SELECT m.old_key FROM jsonb_to_recordset(moves) AS m(old_key text));
  EXECUTE format($g$SELECT ARRAY(SELECT d.k FROM (SELECT DISTINCT g.k FROM unnest($1::text[]) AS g(k)
      WHERE ($2::text IS NULL OR %1$s > %2$s) AND ($3::text IS NULL OR strpos(g.k, $3) > 0)) d ORDER BY %3$s)$g$,
    replace(typed, '«k»', 'g.k'), replace(typed, '«k»', '$2'), replace(typed, '«k»', 'd.k'))
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
