-- Auditrum schema, version 28: a table as of a time months back reads the current month's departures from the admin's
-- summary instead of the log.
--
-- table_as_of_page (version 27's) found the rows gone since the time in the months that have ended through their
-- departures index (version 22), and in the others (the current month, the default partition, months ahead: capture
-- writes there, and an index would cost every captured change) by reading every change of the table since: 535,000
-- changes in the 10,000,000-change benchmark's current week, 60–75 ms of a first page 2 months back. The admin now keeps,
-- per mount and table, a summary of those months' departures (table-departures.ts, at no cost to capture: read from
-- the log by table_departures, only over ids whose transactions have all ended, extended at each call by the ids
-- written since) and hands it to the page (`departures`), which reads only the ids above it. The page checks that the
-- summary still holds (table_departures_state: no erasure, purge or key change since it was read, and it covers the
-- page's time) and reads the log as before when it does not. Replaced: table_as_of_page (dropped and created again: it
-- takes `departures`).

/**
 * The departures of a tracked table (its DELETEs and key changes) with change ids in (`up_to`'s summary) up to
 * `up_to` and a changed_at from `since` on, as the admin summarizes them for table_as_of_page: `since` is where the
 * months a departures index holds end; `state` is table_departures_state's when the summary was read; `gone_keys` the
 * DELETEs' row_keys, `gone_times` their changed_at in microseconds since 1970 (compared with the page's time without
 * parsing a time per key; NULL when the page's time is before `since`); `moves` the key changes as [{id, changed_at,
 * old_key}] in id order. For a page, the admin may hand over only the DELETEs from the page's time on.
 */
CREATE TYPE :AUDITRUM_SCHEMA.table_departures AS (since timestamptz, up_to bigint, state text, gone_keys text[],
  gone_times bigint[], moves jsonb);

/**
 * Since when the admin summarizes the departures of the change log: the end of the last month a current departures
 * index holds ('-infinity' when none; 'infinity' when the index on every partition holds them all: nothing to
 * summarize).
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.table_departures_since() RETURNS timestamptz
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(:AUDITRUM_SCHEMA._departures_indexed_until('-infinity',
    :AUDITRUM_SCHEMA._departures_tag(:AUDITRUM_SCHEMA._all_key_names())), '-infinity')
$$;

/**
 * What a summary of tracked table `target`'s departures rests on besides the rows it read: the log's first id and its
 * newest purge (a purge deletes rows), its newest erasure (an erasure rewrites keys and old values), and the table's
 * key columns, their names and types (which changes are key changes, and how an old key is spelled). A summary read
 * under another state is stale. NULL when the role may not read the erasures (no summary then: one could not tell
 * it stale); a purge it may not read is left out (the log's first id still moves with a purge).
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.table_departures_state(target regclass) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t :AUDITRUM_SCHEMA.tracked_tables := :AUDITRUM_SCHEMA._history_table(target);
  first_id bigint;
  erasure bigint;
  purge bigint;
BEGIN
  SELECT min(c.id) INTO first_id FROM :AUDITRUM_SCHEMA.changes c;
  IF NOT has_table_privilege(format('%I.erasures', :'AUDITRUM_SCHEMA'), 'SELECT') THEN
    RETURN NULL;
  END IF;
  SELECT max(e.id) INTO erasure FROM :AUDITRUM_SCHEMA.erasures e;
  IF has_table_privilege(format('%I.purges', :'AUDITRUM_SCHEMA'), 'SELECT') THEN
    SELECT max(p.id) INTO purge FROM :AUDITRUM_SCHEMA.purges p;
  END IF;
  RETURN jsonb_build_array(t.id, first_id, erasure, purge, t.key_attnums, :AUDITRUM_SCHEMA._history_key_names(t),
    (SELECT jsonb_agg(format_type(a.atttypid, a.atttypmod) ORDER BY k.ord) FROM unnest(t.key_attnums) WITH ORDINALITY
      AS k(num, ord) JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum = k.num))::text;
END;
$$;

/**
 * The departures of tracked table `target` with an id above `after_id` and up to `up_to_id` and a changed_at from
 * `since` on, in id order: a DELETE's row_key and changed_at (microseconds since 1970) as `gone_key`, `gone_time`; a key
 * change as `move` {id, changed_at, old_key}, as table_as_of_page reads them from the log.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.table_departures(target regclass, after_id bigint, up_to_id bigint, since timestamptz)
RETURNS TABLE (id bigint, gone_key text, gone_time bigint, move jsonb)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t :AUDITRUM_SCHEMA.tracked_tables := :AUDITRUM_SCHEMA._history_table(target);
BEGIN
  RETURN QUERY EXECUTE format($s$
    SELECT c.id, CASE WHEN c.operation = 'DELETE' THEN c.row_key END,
      CASE WHEN c.operation = 'DELETE' THEN (extract(epoch FROM c.changed_at) * 1000000)::bigint END,
      CASE WHEN c.operation = 'UPDATE' THEN jsonb_build_object('id', c.id, 'changed_at', c.changed_at,
        'old_key', %1$s._history_old_key($1, c.id)) END
    FROM %1$s.changes c
    WHERE c.table_id = %2$s AND c.id > $3 AND c.id <= $4 AND c.changed_at >= $5
      AND ((c.operation = 'DELETE' AND c.row_key IS NOT NULL) OR (c.operation = 'UPDATE' AND c.old_values ?| $2))
    ORDER BY c.id$s$, quote_ident(:'AUDITRUM_SCHEMA'), t.id)
  USING t, :AUDITRUM_SCHEMA._history_key_names(t), after_id, up_to_id, since;
END;
$$;

DROP FUNCTION :AUDITRUM_SCHEMA.table_as_of_page(regclass, timestamptz, text, text, integer, text);

/**
 * Up to `page_size` rows of tracked table `target` that existed at `at`, or may have (`exists` NULL: see
 * row_as_of), as table_as_of returns them, in the order of the table's key (its columns' types, as its primary key
 * sorts them), after the row whose row_key is `after_key` (NULL: from the first), and with `key_contains` only
 * those whose row_key contains that text; with `until_key`, only the keys up to that one (table_as_of_bound gives
 * it: a search by `key_contains` reads a bounded part of the live table per page). See version 11 for how the page's
 * rows are found; the rows gone since `at` are read from the departures index in the months that have it (version 22),
 * and from `departures` (the admin's summary of the other months, version 28) up to its last id when it is given,
 * still holds and covers the time; the log is read for the rest.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.table_as_of_page(target regclass, at timestamptz, after_key text, key_contains text,
  page_size integer, until_key text DEFAULT NULL, departures :AUDITRUM_SCHEMA.table_departures DEFAULT NULL)
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
  gone_slice text[];
  gone_full boolean;
  live_keys text[];
  batch_keys text[];
  position_key text := after_key;
  batch integer := page_size;
  emitted integer := 0;
  r record;
  s record;
  gaps jsonb := :AUDITRUM_SCHEMA._history_gaps(t.id);
  summarized boolean;
  since_us bigint;
BEGIN
  IF at IS NULL OR NOT isfinite(at) THEN
    RAISE EXCEPTION 'auditrum: give a finite time to read table % as of, not %', target, coalesce(at::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF page_size IS NULL OR page_size < 1 OR page_size > 1001 THEN
    RAISE EXCEPTION 'auditrum: a page of table % as of a time holds 1 to 1001 rows, not %', target,
      coalesce(page_size::text, 'NULL') USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT * INTO live_columns, live_key, typed FROM :AUDITRUM_SCHEMA._table_key_sql(t);
  -- A cursor is the row_key of the previous page's last row (or of the last key a search read): one that is not a
  -- key of this table is refused.
  PERFORM :AUDITRUM_SCHEMA._table_key_check(target, typed, 'cursor', after_key),
    :AUDITRUM_SCHEMA._table_key_check(target, typed, 'bound', until_key);
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
    -- The summary's departures after the time (or the indexed months), when it covers them and nothing it rests on
    -- changed since it was read; the query below then reads only the ids above it.
    -- (The admin leaves the times out when the page's time is before every departure: a summary without them that
    -- would need filtering is not used.)
    summarized := NOT everything AND departures.up_to IS NOT NULL AND coalesce(indexed_until, at) >= departures.since
      AND (departures.gone_times IS NOT NULL OR indexed_until = departures.since)
      AND departures.state = :AUDITRUM_SCHEMA.table_departures_state(target);
    IF summarized AND indexed_until = departures.since THEN
      -- The time is before the summarized months (a page months back): every departure in the summary is after it
      -- (from `since` on), none filtered (filtering 60,000 by their times cost 9.5 ms at a month's end).
      moves := moves || departures.moves;
      gone := gone || departures.gone_keys;
    ELSIF summarized THEN
      since_us := (extract(epoch FROM coalesce(indexed_until, at)) * 1000000)::bigint;
      moves := moves || coalesce((SELECT jsonb_agg(m.move ORDER BY m.ord) FROM jsonb_array_elements(departures.moves)
          WITH ORDINALITY AS m(move, ord)
        WHERE CASE WHEN indexed_until IS NULL THEN (m.move->>'changed_at')::timestamptz > at
          ELSE (m.move->>'changed_at')::timestamptz >= indexed_until END), '[]');
      gone := gone || ARRAY(SELECT g.k FROM unnest(departures.gone_keys, departures.gone_times) AS g(k, us)
        WHERE CASE WHEN indexed_until IS NULL THEN g.us > since_us ELSE g.us >= since_us END);
    END IF;
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
        THEN format(' AND c.changed_at > %L', at) ELSE format(' AND c.changed_at >= %L', indexed_until) END
        || CASE WHEN summarized THEN format(' AND c.id > %s', departures.up_to) ELSE '' END)
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
  -- With the old keys of the key changes, unsorted: each batch selects the few it may need (below).
  gone := gone || ARRAY(SELECT m.old_key FROM jsonb_to_recordset(moves) AS m(old_key text));

  LOOP
    EXECUTE format($l$SELECT ARRAY(SELECT %1$s FROM %2$I.%3$I AS live
      WHERE ($1::text IS NULL OR (%4$s) > %5$s) AND ($4::text IS NULL OR (%4$s) <= %6$s)
        AND ($2::text IS NULL OR strpos(%1$s, $2) > 0)
      ORDER BY %4$s LIMIT $3)$l$, live_key, t.schema_name, t.table_name, live_columns, replace(typed, '«k»', '$1'),
      replace(typed, '«k»', '$4'))
    INTO live_keys USING position_key, key_contains, batch, until_key;
    -- The gone keys after the position (containing the text, up to the bound) that the batch may need: the first
    -- `batch` in key order, a bounded sort (top-N) at each batch rather than all of them sorted once (26 of a first
    -- page's 50 ms months back at a month's end: 60,000 gone keys; a page takes one batch or two). A key that left
    -- more than once is there as often: when the selection is full, the keys after its last are not known yet, and
    -- the batch ends at that key (the next one goes on from it).
    EXECUTE format($g$SELECT ARRAY(SELECT g.k FROM unnest($1::text[]) AS g(k)
        WHERE ($2::text IS NULL OR %1$s > %2$s) AND ($3::text IS NULL OR strpos(g.k, $3) > 0)
          AND ($4::text IS NULL OR %1$s <= %3$s) ORDER BY %1$s, g.k LIMIT $5)$g$,
      replace(typed, '«k»', 'g.k'), replace(typed, '«k»', '$2'), replace(typed, '«k»', '$4'))
    INTO gone_slice USING gone, position_key, key_contains, until_key, batch;
    gone_full := cardinality(gone_slice) = batch;
    -- The batch: the first `batch` of the live and gone candidates after the position, in key order, each once (a key
    -- that is a row again today is also a live one), up to the selection's last key when it is full.
    EXECUTE format($m$SELECT ARRAY(SELECT x.k FROM (SELECT unnest($1::text[]) AS k UNION SELECT unnest($2::text[])) x
      WHERE $3::text IS NULL OR (%1$s, x.k) <= (%2$s, $3) ORDER BY %1$s, x.k LIMIT $4)$m$,
      replace(typed, '«k»', 'x.k'), replace(typed, '«k»', '$3'))
    INTO batch_keys USING live_keys, gone_slice, CASE WHEN gone_full THEN gone_slice[batch] END, batch;
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
    EXIT WHEN emitted = page_size OR (cardinality(batch_keys) < batch AND NOT gone_full);
    position_key := batch_keys[cardinality(batch_keys)];
    batch := least(batch * 2, 1000);
  END LOOP;
END;
$$;
