-- Auditrum schema, version 10: history read speed. A row as of a time rebuilt forwards merges only the changes
-- that decide it (its last full image and the newest UPDATE of each column since), and looks after the time only
-- at the key's next change; the functions and their results are those of version 7.

/**
 * The changes of one key in the past (changed_at <= `at`, id below `before_id`) that rebuilding it forwards needs,
 * newest first: its newest one, then the newest UPDATE that wrote each of `columns` (stored names), down to its
 * last full image or exit (an INSERT, a DELETE or a key change), which ends the list. Merging only those gives the
 * same values as merging every change since that image (the last one to set a column wins), so a row of 10,000
 * versions merges a handful. The newest changes are read whole; the older ones only where an UPDATE wrote a column
 * still unfound or is a key change, tested in SQL (`?|`). NULL when the key has no such image in the past.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._history_forward_ids(table_id integer, row_key text, at timestamptz,
  before_id bigint, key_names text[], columns text[]) RETURNS bigint[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  first_page constant integer := 64;
  ids bigint[] := '{}';
  remaining text[] := columns;
  step record;
  seen integer := 0;
  oldest bigint;
BEGIN
  FOR step IN
    SELECT ch.id, ch.operation <> 'UPDATE' OR ch.old_values ?| key_names AS bound,
      ARRAY(SELECT jsonb_object_keys(ch.new_values)) AS names
    FROM :AUDITRUM_SCHEMA.changes ch
    WHERE ch.table_id = _history_forward_ids.table_id AND ch.row_key = _history_forward_ids.row_key
      AND ch.changed_at <= at AND ch.id < before_id
    ORDER BY ch.id DESC LIMIT first_page
  LOOP
    seen := seen + 1;
    oldest := step.id;
    IF seen = 1 OR step.bound OR step.names && remaining THEN
      ids := ids || step.id;
      remaining := ARRAY(SELECT unnest(remaining) EXCEPT SELECT unnest(step.names));
    END IF;
    IF step.bound THEN
      RETURN ids;
    END IF;
  END LOOP;
  IF seen < first_page THEN
    RETURN NULL;
  END IF;
  FOR step IN
    SELECT ch.id, ch.operation <> 'UPDATE' OR ch.old_values ?| key_names AS bound,
      ARRAY(SELECT jsonb_object_keys(ch.new_values)) AS names
    FROM :AUDITRUM_SCHEMA.changes ch
    WHERE ch.table_id = _history_forward_ids.table_id AND ch.row_key = _history_forward_ids.row_key
      AND ch.changed_at <= at AND ch.id < oldest
      AND (ch.operation <> 'UPDATE' OR ch.old_values ?| key_names OR ch.new_values ?| remaining)
    ORDER BY ch.id DESC
  LOOP
    IF step.bound OR step.names && remaining THEN
      ids := ids || step.id;
      remaining := ARRAY(SELECT unnest(remaining) EXCEPT SELECT unnest(step.names));
    END IF;
    IF step.bound THEN
      RETURN ids;
    END IF;
  END LOOP;
  RETURN NULL;
END;
$$;

-- The rows rebuilt by _history_plan's query (not finished: values with markers, missing reasons), for one key or
-- every key; what row_as_of and the restore functions read.
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._history_states(target regclass, at timestamptz, before_id bigint,
  keys text[], backward_only boolean)
RETURNS TABLE (row_key text, "exists" boolean, "values" jsonb, missing jsonb, last_change_id bigint,
  last_changed_at timestamptz, rebuilt_from text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t :AUDITRUM_SCHEMA.tracked_tables := :AUDITRUM_SCHEMA._history_table(target);
  key_names text[] := :AUDITRUM_SCHEMA._history_key_names(t);
  p record;
  r record;
  st record;
  moves jsonb;
  found_row boolean := false;
  entered_first boolean;
  past_ids bigint[];
  bound record;
  newest record;
  next_change record;
  entry_after bigint;
  before_entry bigint;
  may_have_moved boolean;
  search_after bigint;
  search_before bigint;
BEGIN
  -- One key, read forwards: a row whose key's first change, in the past, brought it in (else, as for a row from
  -- before tracking, a forward rebuild is unlikely) is rebuilt from the few changes that decide it (see
  -- _history_forward_ids) by a statement whose plan the session keeps, when every recorded state of the table is
  -- plain (stored names are today's) and that image is an INSERT with no TRUNCATE after it: the same row the
  -- query of _history_plan gives, without building, planning or reading through the other versions.
  IF keys IS NOT NULL AND NOT backward_only THEN
    SELECT ch.changed_at <= at AND ch.id < before_id
        AND (ch.operation = 'INSERT' OR (ch.operation = 'UPDATE' AND ch.old_values ?| key_names))
    INTO entered_first
    FROM :AUDITRUM_SCHEMA.changes ch WHERE ch.table_id = t.id AND ch.row_key = keys[1] ORDER BY ch.id LIMIT 1;
  END IF;
  IF entered_first THEN
    SELECT coalesce(array_agg(v.after_change_id + 1 ORDER BY v.idx), '{1}') AS thresholds,
      coalesce(bool_and(v.plain), true) AS plain,
      coalesce(array_agg(v.remap ORDER BY v.idx), '{"{}"}') AS remaps,
      coalesce(array_agg(v.missing ORDER BY v.idx), '{"{}"}') AS missings,
      coalesce(jsonb_agg(jsonb_build_object('a', v.after_change_id, 'recorded_at', v.recorded_at, 'm', v.markers)
        ORDER BY v.idx) FILTER (WHERE v.markers <> '{}'), '[]') AS markers
    INTO st FROM :AUDITRUM_SCHEMA._history_versions(t) v;
    IF st.plain THEN
      past_ids := :AUDITRUM_SCHEMA._history_forward_ids(t.id, keys[1], at, before_id, key_names,
        :AUDITRUM_SCHEMA._history_columns(t));
    END IF;
  END IF;
  IF past_ids IS NOT NULL THEN
    SELECT ch.id, ch.operation INTO bound FROM :AUDITRUM_SCHEMA.changes ch
    WHERE ch.table_id = t.id AND ch.row_key = keys[1] AND ch.id = past_ids[cardinality(past_ids)];
    IF bound.operation = 'INSERT' AND NOT EXISTS (
      SELECT FROM :AUDITRUM_SCHEMA.changes ch
      WHERE ch.table_id = t.id AND ch.row_key IS NULL AND ch.operation = 'TRUNCATE' AND ch.id > bound.id
        AND ch.changed_at <= at AND ch.id < before_id)
    THEN
      SELECT ch.id, ch.changed_at INTO newest FROM :AUDITRUM_SCHEMA.changes ch
      WHERE ch.table_id = t.id AND ch.row_key = keys[1] AND ch.id = past_ids[1];
      -- As the query's forward merge: each change's values under today's names (as recorded, unless an oversized
      -- value or an object that looks like a marker needs the remap), the markers of states begun since, by id.
      SELECT :AUDITRUM_SCHEMA._history_merge(x.v ORDER BY x.id, x.sub) INTO "values" FROM (
        SELECT ch.id, 0 AS sub, CASE
            WHEN NOT ch.new_values ? '' AND NOT jsonb_path_exists(ch.new_values, '$.*."$auditrum"') THEN ch.new_values
            ELSE :AUDITRUM_SCHEMA._history_remap(ch.new_values, st.remaps[width_bucket(ch.id, st.thresholds)]) END AS v
        FROM :AUDITRUM_SCHEMA.changes ch
        WHERE ch.table_id = t.id AND ch.row_key = keys[1] AND ch.id = ANY (past_ids)
        UNION ALL
        SELECT mk.a, 1, mk.m FROM jsonb_to_recordset(st.markers) AS mk(a bigint, recorded_at timestamptz, m jsonb)
        WHERE mk.a >= bound.id AND mk.recorded_at <= at AND mk.a < before_id
      ) x;
      row_key := keys[1]; "exists" := true; missing := st.missings[width_bucket(bound.id, st.thresholds)];
      last_change_id := newest.id; last_changed_at := newest.changed_at; rebuilt_from := 'forward';
      found_row := true;
      -- Where a key change away could hide: after the key's last change before its next entry (INSERT or key
      -- change in). The key's first change after the position says enough: an UPDATE or DELETE of the row there
      -- means none left it before (the key was not empty), and one after that does not change the row then.
      SELECT ch.id, ch.operation = 'INSERT' OR (ch.operation = 'UPDATE' AND coalesce(ch.old_values ?| key_names, false))
          AS entry
      INTO next_change
      FROM :AUDITRUM_SCHEMA.changes ch
      WHERE ch.table_id = t.id AND ch.row_key = keys[1] AND ch.id > newest.id ORDER BY ch.id LIMIT 1;
      IF next_change.id IS NULL THEN
        -- No change since: a key change may have moved the row away only if the key is empty today.
        EXECUTE format('SELECT NOT EXISTS (%s)', :AUDITRUM_SCHEMA._history_live_sql(t, true))
        INTO may_have_moved USING NULL::integer, NULL::timestamptz, NULL::bigint, keys;
      ELSE
        may_have_moved := next_change.entry;
      END IF;
      search_after := newest.id;
      search_before := CASE WHEN next_change.entry THEN next_change.id ELSE 9223372036854775807 END;
    END IF;
  END IF;
  IF NOT found_row THEN
    p := :AUDITRUM_SCHEMA._history_plan(target, at, before_id, keys, backward_only, false, NULL);
    -- Else a row rebuilt forwards still needs nothing after the position but where its key is next entered: its
    -- changes in the past are rebuilt first, and those after it read through only when that does not give the row.
    IF entered_first THEN
      FOR r IN EXECUTE p.past_query
        USING p.table_id, at, before_id, keys, backward_only, p.key_names, p.thresholds, p.plains, p.remaps,
          p.missings, p.markers_after, p.moves, p.truncates, target, p.markers, p.live_dirty
      LOOP
        found_row := r.rebuilt_from = 'forward';
      END LOOP;
      IF found_row THEN
        SELECT min(ch.id) INTO entry_after FROM :AUDITRUM_SCHEMA.changes ch
        WHERE ch.table_id = p.table_id AND ch.row_key = keys[1] AND NOT (ch.changed_at <= at AND ch.id < before_id)
          AND (ch.operation = 'INSERT' OR (ch.operation = 'UPDATE' AND ch.old_values ?| p.key_names));
        SELECT max(ch.id) INTO before_entry FROM :AUDITRUM_SCHEMA.changes ch
        WHERE ch.table_id = p.table_id AND ch.row_key = keys[1] AND ch.id < coalesce(entry_after, 9223372036854775807);
        may_have_moved := r.may_have_moved OR entry_after IS NOT NULL;
        search_after := coalesce(before_entry, 0);
        search_before := coalesce(entry_after, 9223372036854775807);
      END IF;
    END IF;
    IF NOT found_row THEN
      FOR r IN EXECUTE p.query
        USING p.table_id, at, before_id, keys, backward_only, p.key_names, p.thresholds, p.plains, p.remaps,
          p.missings, p.markers_after, p.moves, p.truncates, target, p.markers, p.live_dirty
      LOOP
        found_row := true;
        EXIT WHEN keys IS NOT NULL;
        row_key := r.row_key; "exists" := r."exists"; "values" := r."values"; missing := r.missing;
        last_change_id := r.last_change_id; last_changed_at := r.last_changed_at; rebuilt_from := r.rebuilt_from;
        RETURN NEXT;
      END LOOP;
      IF found_row AND keys IS NOT NULL THEN
        may_have_moved := r.may_have_moved; search_after := r.search_after; search_before := r.search_before;
      END IF;
    END IF;
    IF found_row AND keys IS NOT NULL THEN
      row_key := r.row_key; "exists" := r."exists"; "values" := r."values"; missing := r.missing;
      last_change_id := r.last_change_id; last_changed_at := r.last_changed_at; rebuilt_from := r.rebuilt_from;
    END IF;
  END IF;
  IF keys IS NULL THEN
    RETURN;
  END IF;
  -- One key: a key change that moved the row away is recorded under the new key. It is looked for only where it
  -- can be (usually nowhere: the key is still taken today and not entered again later), then the row rebuilt again
  -- with what was found.
  IF NOT found_row OR may_have_moved THEN
    moves := :AUDITRUM_SCHEMA._history_moves_away(t, keys[1], key_names,
      CASE WHEN found_row THEN search_after ELSE 0 END, CASE WHEN found_row THEN search_before ELSE 9223372036854775807 END);
    IF moves <> '[]' THEN
      p := :AUDITRUM_SCHEMA._history_plan(target, at, before_id, keys, backward_only, false, moves);
      found_row := false;
      FOR r IN EXECUTE p.query
        USING p.table_id, at, before_id, keys, backward_only, p.key_names, p.thresholds, p.plains, p.remaps,
          p.missings, p.markers_after, p.moves, p.truncates, target, p.markers, p.live_dirty
      LOOP
        found_row := true;
      END LOOP;
      IF found_row THEN
        row_key := r.row_key; "exists" := r."exists"; "values" := r."values"; missing := r.missing;
        last_change_id := r.last_change_id; last_changed_at := r.last_changed_at; rebuilt_from := r.rebuilt_from;
      END IF;
    END IF;
  END IF;
  IF found_row THEN
    RETURN NEXT;
  END IF;
END;
$$;
