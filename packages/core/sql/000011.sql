-- Auditrum schema, version 11: admin read speed. table_as_of_page: one page of a table as of a time, in the order
-- of its primary key, rebuilding only the page's rows (table_as_of rebuilds the whole table).

/**
 * Up to `page_size` rows of tracked table `target` that existed at `at`, as table_as_of returns them, in the order
 * of the table's key (its columns' types, as its primary key sorts them), after the row whose row_key is
 * `after_key` (NULL: from the first), and with `key_contains` only those whose row_key contains that text.
 *
 * The rows that existed at `at` are rows of the table today, or rows gone since: deleted or moved to another key
 * after `at` (a TRUNCATE after `at`, or anything that cannot be seen from the log after it, such as a time when the
 * table was not tracked, makes every key the log holds a candidate). So the page's candidates are the next live
 * keys in key order (through the primary key's index) merged with the gone ones (found once per call from the
 * changes after `at`), and only they are rebuilt, each with history's one-row query; keys that did not exist then
 * are skipped and more candidates taken, in batches that double, until the page is full.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.table_as_of_page(target regclass, at timestamptz, after_key text, key_contains text,
  page_size integer)
RETURNS TABLE (row_key text, "values" jsonb, unknown jsonb, last_change_id bigint, last_changed_at timestamptz,
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
  settings_before text[];
  gone text[];
  live_keys text[];
  batch_keys text[];
  position_key text := after_key;
  batch integer := page_size;
  emitted integer := 0;
  r record;
  s record;
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
    OR NOT (t.tracked_at <= at);
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
  -- With the old keys of the key changes. Not narrowed further here: a key that is a row again today is merged
  -- with the live one below, and sorting only what a batch needs is cheaper than filtering them all (15,000 gone keys
  -- of the benchmark's table 2 months back: 40–50 ms).
  gone := gone || ARRAY(SELECT m.old_key FROM jsonb_to_recordset(moves) AS m(old_key text));

  LOOP
    EXECUTE format($l$SELECT ARRAY(SELECT %1$s FROM %2$I.%3$I AS live
      WHERE ($1::text IS NULL OR (%4$s) > %5$s) AND ($2::text IS NULL OR strpos(%1$s, $2) > 0)
      ORDER BY %4$s LIMIT $3)$l$, live_key, t.schema_name, t.table_name, live_columns, replace(typed, '«k»', '$1'))
    INTO live_keys USING position_key, key_contains, batch;
    -- The batch: the first `batch` of the live and gone candidates after the position (containing the text), in key
    -- order, each once.
    EXECUTE format($m$SELECT ARRAY(SELECT x.k FROM (SELECT unnest($1::text[]) AS k UNION
        SELECT g.k FROM unnest($2::text[]) AS g(k)
        WHERE ($3::text IS NULL OR %1$s > %2$s) AND ($5::text IS NULL OR strpos(g.k, $5) > 0)) x
      ORDER BY %3$s LIMIT $4)$m$, replace(typed, '«k»', 'g.k'), replace(typed, '«k»', '$3'), replace(typed, '«k»', 'x.k'))
    INTO batch_keys USING live_keys, gone, position_key, batch, key_contains;
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
      CONTINUE WHEN s."exists" IS NOT TRUE;
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
