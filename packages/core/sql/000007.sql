-- Auditrum schema, version 7: history as of a time. A row, a field's history and a whole table, rebuilt from what
-- capture stores (INSERT and DELETE keep the whole row, UPDATE only what changed), read under today's column names
-- through the recorded table versions, following key changes. A value that cannot be known is reported as unknown
-- with a reason, never invented. Nothing here is SECURITY DEFINER: the caller reads the log and the live table
-- with their own rights, and a user-defined type's input function runs as the caller.
--
-- Inside these functions a value that is not known travels as {"$auditrum": "unknown", "reason": "…"} in the
-- values object (the merge is plain jsonb concatenation, which is what keeps a row of 10,000 versions fast); a
-- json or jsonb column's own object with a "$auditrum" key is wrapped as {"$auditrum": "value", "value": …} so
-- that it is never taken for one. The public functions return the known values and the unknown ones apart.

-- Concatenates values objects in the aggregate's order: the last one to set a column wins.
CREATE AGGREGATE :AUDITRUM_SCHEMA._history_merge(jsonb) (SFUNC = jsonb_concat, STYPE = jsonb);

-- The registry row of a table that is or was tracked, or a clear error.
CREATE FUNCTION :AUDITRUM_SCHEMA._history_table(target regclass) RETURNS :AUDITRUM_SCHEMA.tracked_tables
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t :AUDITRUM_SCHEMA.tracked_tables;
BEGIN
  IF target IS NULL THEN
    RAISE EXCEPTION 'auditrum: give the table whose history to read' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT * INTO t FROM :AUDITRUM_SCHEMA.tracked_tables WHERE relid = target ORDER BY untracked_at NULLS FIRST LIMIT 1;
  IF t.id IS NULL THEN
    RAISE EXCEPTION 'auditrum: table % is not tracked: it has no history', target USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN t;
END;
$$;

-- Today's columns of a tracked table in attnum order, the names history is returned under.
CREATE FUNCTION :AUDITRUM_SCHEMA._history_columns(t :AUDITRUM_SCHEMA.tracked_tables) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(array_agg(a.attname::text ORDER BY a.attnum), '{}')
  FROM pg_attribute a WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- An unknown value's marker inside these functions.
CREATE FUNCTION :AUDITRUM_SCHEMA._history_unknown_marker(reason text) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT jsonb_build_object('$auditrum', 'unknown', 'reason', reason)
$$;

/**
 * Every recorded state of a table's columns, in order (idx 1, 2, …), with what reading a change captured in it
 * needs: `plain` when its values are already under today's names with nothing masked (read as they are), else
 * `remap` {stored name: {to: today's name or null when dropped, masked}}; `markers` {today's name: unknown marker}
 * for the columns whose value may have changed unrecorded when this state began (the table was not tracked: every
 * column; a column added, or excluded or included again by the rules); `missing` {today's name: reason} for
 * today's columns that a full image recorded in this state lacks.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._history_versions(t :AUDITRUM_SCHEMA.tracked_tables)
RETURNS TABLE (idx integer, after_change_id bigint, recorded_at timestamptz, tracking boolean, plain boolean,
  remap jsonb, markers jsonb, missing jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH today AS (
    SELECT a.attnum, a.attname::text AS name, a.attnum = ANY (t.key_attnums) AS key
    FROM pg_attribute a WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
  ),
  v AS (
    SELECT row_number() OVER (ORDER BY tv.after_change_id, tv.id)::integer AS idx, tv.after_change_id,
      tv.recorded_at, tv.tracking, tv.columns
    FROM :AUDITRUM_SCHEMA.table_versions tv WHERE tv.table_id = t.id
  ),
  vc AS (
    SELECT v.idx, col.attnum, col.name, col.captured, col.masked, today.name AS today_name
    FROM v CROSS JOIN LATERAL jsonb_to_recordset(v.columns) AS col(attnum smallint, name text, captured boolean, masked boolean)
    LEFT JOIN today ON today.attnum = col.attnum
  )
  SELECT v.idx, v.after_change_id, v.recorded_at, v.tracking,
    coalesce((SELECT bool_and(NOT vc.captured OR (vc.name = vc.today_name AND NOT vc.masked))
              FROM vc WHERE vc.idx = v.idx), true),
    coalesce((SELECT jsonb_object_agg(vc.name, jsonb_build_object('to', vc.today_name, 'masked', vc.masked))
              FROM vc WHERE vc.idx = v.idx AND vc.captured), '{}'),
    CASE
      WHEN v.idx = 1 THEN '{}'::jsonb
      WHEN NOT v.tracking THEN coalesce((
        SELECT jsonb_object_agg(today.name, :AUDITRUM_SCHEMA._history_unknown_marker('untracked_gap'))
        FROM today WHERE NOT today.key), '{}')
      ELSE coalesce((
        SELECT jsonb_object_agg(today.name,
          :AUDITRUM_SCHEMA._history_unknown_marker(CASE WHEN p.attnum IS NULL THEN 'added_later' ELSE 'excluded' END))
        FROM today
        JOIN vc cur ON cur.idx = v.idx AND cur.attnum = today.attnum
        LEFT JOIN vc p ON p.idx = v.idx - 1 AND p.attnum = today.attnum
        WHERE NOT today.key AND cur.captured IS DISTINCT FROM coalesce(p.captured, false)), '{}')
    END,
    coalesce((
      SELECT jsonb_object_agg(today.name, CASE WHEN cur.attnum IS NULL THEN 'added_later' ELSE 'excluded' END)
      FROM today LEFT JOIN vc cur ON cur.idx = v.idx AND cur.attnum = today.attnum
      WHERE NOT coalesce(cur.captured, false)), '{}')
  FROM v
$$;

-- A recorded values object under today's names (a state's `remap`): dropped columns and the oversized list (key "")
-- left out, masked and oversized values as unknown markers (a masked NULL is known: capture keeps NULL as NULL),
-- an object of a json column that looks like a marker wrapped.
CREATE FUNCTION :AUDITRUM_SCHEMA._history_remap(recorded jsonb, remap jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(jsonb_object_agg(m->>'to', CASE
      WHEN (m->>'masked')::boolean AND e.value <> 'null' THEN :AUDITRUM_SCHEMA._history_unknown_marker('masked')
      WHEN recorded->''->'oversized' ? e.key THEN :AUDITRUM_SCHEMA._history_unknown_marker('oversized')
      WHEN jsonb_typeof(e.value) = 'object' AND e.value ? '$auditrum' THEN jsonb_build_object('$auditrum', 'value', 'value', e.value)
      ELSE e.value END), '{}')
  FROM jsonb_each(recorded) e CROSS JOIN LATERAL (SELECT remap->e.key AS m) r
  WHERE e.key <> '' AND jsonb_typeof(m->'to') = 'string'
$$;

-- Whether a column's values can be JSON objects (json, jsonb or a domain over them): only those need the check
-- for objects that look like markers.
CREATE FUNCTION :AUDITRUM_SCHEMA._history_holds_objects(typ oid) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  base oid := typ;
BEGIN
  WHILE base IS NOT NULL AND base <> 0 LOOP
    IF base IN ('json'::regtype, 'jsonb'::regtype) THEN
      RETURN true;
    END IF;
    SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype END INTO base FROM pg_type t WHERE t.oid = base;
  END LOOP;
  RETURN false;
END;
$$;

-- The live table's rows as history finds them: row_key exactly as capture spells it, and the row's ctid (its image
-- is built only for the rows rebuilt from it: see _history_live_image). With `one_key`, only the row whose key is
-- $4[1] (found through the key's index: the key text is read back as the key columns' types).
CREATE FUNCTION :AUDITRUM_SCHEMA._history_live_sql(t :AUDITRUM_SCHEMA.tracked_tables, one_key boolean) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  key_parts text[];
  key_filter text[];
BEGIN
  SELECT array_agg(coalesce(replace(:AUDITRUM_SCHEMA._rendered_value_sql(a.atttypid), '«x»', format('live.%I', a.attname)),
      format('live.%I', a.attname)) ORDER BY k.ord),
    array_agg(format('live.%I = %s::%s', a.attname,
      CASE WHEN cardinality(t.key_attnums) = 1 THEN '$4[1]' ELSE format('($4[1]::jsonb->>%s)', k.ord - 1) END,
      format_type(a.atttypid, a.atttypmod)) ORDER BY k.ord)
  INTO key_parts, key_filter
  FROM unnest(t.key_attnums) WITH ORDINALITY AS k(num, ord)
  JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum = k.num AND NOT a.attisdropped;
  RETURN format('SELECT %s AS row_key, live.ctid AS tid FROM %I.%I AS live%s',
    CASE WHEN cardinality(key_parts) = 1 THEN format('(%s)::text', key_parts[1])
      ELSE format('jsonb_build_array(%s)::text', array_to_string(key_parts, ', ')) END,
    t.schema_name, t.table_name,
    CASE WHEN one_key THEN ' WHERE ' || array_to_string(key_filter, ' AND ') ELSE '' END);
END;
$$;

-- The image of the live row at ctid «tid», as history reads it: the columns recorded today (masked ones as unknown
-- markers, since the log's readers may not see them), values rendered as capture renders them.
CREATE FUNCTION :AUDITRUM_SCHEMA._history_live_image(t :AUDITRUM_SCHEMA.tracked_tables) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  pairs text[];
  image text;
BEGIN
  SELECT array_agg(format('%L, %s', a.attname, CASE
      WHEN a.attnum = ANY (t.mask_attnums)
        THEN format('CASE WHEN live.%I IS NULL THEN NULL ELSE %L::jsonb END', a.attname,
          :AUDITRUM_SCHEMA._history_unknown_marker('masked'))
      WHEN :AUDITRUM_SCHEMA._rendered_value_sql(a.atttypid) IS NOT NULL
        THEN replace(:AUDITRUM_SCHEMA._rendered_value_sql(a.atttypid), '«x»', format('live.%I', a.attname))
      WHEN :AUDITRUM_SCHEMA._history_holds_objects(a.atttypid)
        THEN format($f$CASE WHEN to_jsonb(live.%1$I) ? '$auditrum' AND jsonb_typeof(to_jsonb(live.%1$I)) = 'object'
          THEN jsonb_build_object('$auditrum', 'value', 'value', to_jsonb(live.%1$I)) ELSE to_jsonb(live.%1$I) END$f$, a.attname)
      ELSE format('live.%I', a.attname) END) ORDER BY a.attnum)
  INTO pairs
  FROM pg_attribute a
  WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
    AND (t.only_attnums IS NULL OR a.attnum = ANY (t.only_attnums)) AND NOT (a.attnum = ANY (t.exclude_attnums));
  -- Without masked columns, values of user-defined types or json columns, to_jsonb of the row gives the same
  -- image several times faster (jsonb_build_object looks up how to convert each argument at every call).
  IF cardinality(t.mask_attnums) = 0 AND NOT EXISTS (
    SELECT FROM pg_attribute a WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
      AND (:AUDITRUM_SCHEMA._rendered_value_sql(a.atttypid) IS NOT NULL OR :AUDITRUM_SCHEMA._history_holds_objects(a.atttypid)))
  THEN
    SELECT format('to_jsonb(live.*) - %L::text[]', coalesce(array_agg(a.attname::text), '{}')) INTO image
    FROM pg_attribute a
    WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
      AND NOT ((t.only_attnums IS NULL OR a.attnum = ANY (t.only_attnums)) AND NOT (a.attnum = ANY (t.exclude_attnums)));
  ELSE
    image := coalesce(:AUDITRUM_SCHEMA._jsonb_object_sql(pairs), '''{}''::jsonb');
  END IF;
  RETURN format('(SELECT %s FROM %I.%I AS live WHERE live.ctid = «tid»)', image, t.schema_name, t.table_name);
END;
$$;

-- The stored names of a table's key columns in any recorded state: an UPDATE whose old values hold one changed
-- the row's key (an UPDATE records only the columns it changed).
CREATE FUNCTION :AUDITRUM_SCHEMA._history_key_names(t :AUDITRUM_SCHEMA.tracked_tables) RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(array_agg(DISTINCT col.name), '{}')
  FROM :AUDITRUM_SCHEMA.table_versions tv
  CROSS JOIN LATERAL jsonb_to_recordset(tv.columns) AS col(name text, key boolean)
  WHERE tv.table_id = t.id AND col.key
$$;

-- The row key a row had before the key-changing UPDATE `change_id` (recorded under the new key, with the old key
-- columns among its old values).
CREATE FUNCTION :AUDITRUM_SCHEMA._history_old_key(t :AUDITRUM_SCHEMA.tracked_tables, change_id bigint) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  c record;
  v record;
  old_today jsonb;
  key_object jsonb;
BEGIN
  SELECT ch.row_key, ch.old_values INTO c FROM :AUDITRUM_SCHEMA.changes ch WHERE ch.id = change_id AND ch.table_id = t.id;
  SELECT hv.plain, hv.remap INTO v FROM :AUDITRUM_SCHEMA._history_versions(t) hv
  WHERE hv.after_change_id < change_id ORDER BY hv.idx DESC LIMIT 1;
  old_today := CASE WHEN v.plain IS NOT FALSE THEN c.old_values ELSE :AUDITRUM_SCHEMA._history_remap(c.old_values, v.remap) END;
  SELECT jsonb_object_agg(a.attname, coalesce(old_today->a.attname::text,
      CASE WHEN cardinality(t.key_attnums) = 1 THEN to_jsonb(c.row_key) ELSE c.row_key::jsonb->(k.ord::int - 1) END))
  INTO key_object
  FROM unnest(t.key_attnums) WITH ORDINALITY AS k(num, ord)
  JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum = k.num AND NOT a.attisdropped;
  RETURN :AUDITRUM_SCHEMA.row_key(t.relid::regclass, key_object);
END;
$$;

-- The key changes that moved a row away, as [{id, changed_at, old_key}]: they are recorded under the new key, so
-- they are found by their old values. `key` NULL: every one of the table's; else those away from `key` with an id
-- between `after_id` and `before_id` (where one can matter: after the key's last change before its next INSERT or
-- move in, since a row that left the key recorded nothing under it since).
CREATE FUNCTION :AUDITRUM_SCHEMA._history_moves_away(t :AUDITRUM_SCHEMA.tracked_tables, key text, key_names text[],
  after_id bigint, before_id bigint) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(jsonb_agg(m ORDER BY m.id), '[]') FROM (
    SELECT c.id, c.changed_at, :AUDITRUM_SCHEMA._history_old_key(t, c.id) AS old_key
    FROM :AUDITRUM_SCHEMA.changes c
    WHERE c.table_id = t.id AND c.operation = 'UPDATE' AND c.old_values ?| key_names
      AND cardinality(key_names) > 0 AND c.id > after_id AND c.id < before_id
  ) m WHERE key IS NULL OR m.old_key = key
$$;

-- The key changes that moved a row away from one of `keys` (all of the table's when NULL) that matter at a
-- position, as [{id, changed_at, old_key}] (the restore functions ask it): for one key only after the key's last
-- change before its next INSERT or move in after the position, and none when the key is still taken today with no
-- such entry. (The rebuilding itself decides from its own pass over the key's changes: see _history_states.)
CREATE FUNCTION :AUDITRUM_SCHEMA._history_moves(t :AUDITRUM_SCHEMA.tracked_tables, keys text[], key_names text[],
  at timestamptz, before_id bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  entry_after bigint;
  last_before bigint;
  taken boolean;
  step record;
BEGIN
  IF cardinality(key_names) = 0 THEN
    RETURN '[]';
  END IF;
  IF keys IS NULL THEN
    RETURN :AUDITRUM_SCHEMA._history_moves_away(t, NULL, key_names, 0, 9223372036854775807);
  END IF;
  -- The key's changes newest first, down to the position: the first INSERT or key change into it after the
  -- position, and its latest change (a row's changes come in time order, so the walk stops at the position).
  -- Usually the latest change is in the past already: one row read through the key's index, newest first.
  SELECT ch.id, ch.changed_at <= at AND ch.id < before_id AS past INTO step
  FROM :AUDITRUM_SCHEMA.changes ch WHERE ch.table_id = t.id AND ch.row_key = keys[1] ORDER BY ch.id DESC LIMIT 1;
  last_before := step.id;
  IF step.past IS FALSE THEN
    FOR step IN
      SELECT ch.id, ch.changed_at, ch.operation = 'INSERT' OR (ch.operation = 'UPDATE' AND ch.old_values ?| key_names) AS entry
      FROM :AUDITRUM_SCHEMA.changes ch WHERE ch.table_id = t.id AND ch.row_key = keys[1] ORDER BY ch.id DESC
    LOOP
      EXIT WHEN step.changed_at <= at AND step.id < before_id;
      IF step.entry THEN
        entry_after := step.id;
      END IF;
    END LOOP;
  END IF;
  IF entry_after IS NULL THEN
    EXECUTE format('SELECT EXISTS (%s)', :AUDITRUM_SCHEMA._history_live_sql(t, true))
    INTO taken USING NULL::integer, NULL::timestamptz, NULL::bigint, keys;
    IF taken THEN
      RETURN '[]';
    END IF;
  ELSE
    SELECT max(ch.id) INTO last_before
    FROM :AUDITRUM_SCHEMA.changes ch WHERE ch.table_id = t.id AND ch.row_key = keys[1] AND ch.id < entry_after;
  END IF;
  RETURN :AUDITRUM_SCHEMA._history_moves_away(t, keys[1], key_names, coalesce(last_before, 0),
    coalesce(entry_after, 9223372036854775807));
END;
$$;

/**
 * The query that rebuilds rows of a tracked table at a position in its history: changes with changed_at <= `at`
 * and an id below `before_id` are in the past. `keys` NULL: every row of the table (also live rows never changed);
 * else the one row_key keys[1]. `backward_only`: rebuild from what comes after (a row's state just after a key
 * change, which must not be read forwards from the key change itself). The query returns one row per key (the
 * table: only rows that existed): row_key, exists, values (with unknown markers), missing (the reasons for absent
 * columns), last_change_id, last_changed_at, rebuilt_from; with `finish`, only rows that existed, as row_key,
 * values (known ones), unknown, last_change_id, last_changed_at, rebuilt_from. The values it needs come with it,
 * as the parameters $1 to $16 of EXECUTE … USING (never spelled into the text, which holds column names).
 *
 * A row is rebuilt forwards from its last full image in the past (an INSERT, or a key change moving it in: the
 * state of the old key then plus the change) and the UPDATEs after it; or, when it has none, backwards from its
 * first full image in the future (a DELETE's old values, a key change moving it away, the live row), each column
 * taking the old value of the first UPDATE after the position that changed it. Markers of the table's states
 * (a gap, a column added or excluded, and before every change the time before the table was tracked) sit
 * between change ids and take part in the same order. For the whole table one window over the log sorted by key
 * and id gives each change its key's summary; the merges read the changes in that order (no sort per key).
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._history_plan(target regclass, at timestamptz, before_id bigint, keys text[],
  backward_only boolean, finish boolean, key_moves jsonb,
  OUT query text, OUT table_id integer, OUT key_names text[], OUT thresholds bigint[], OUT plains boolean[],
  OUT remaps jsonb[], OUT missings jsonb[], OUT markers_after jsonb, OUT moves jsonb, OUT truncates jsonb,
  OUT markers jsonb, OUT live_dirty boolean, OUT past_query text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t :AUDITRUM_SCHEMA.tracked_tables := :AUDITRUM_SCHEMA._history_table(target);
  variants text[];
  live_sql text;
  live_image text;
  today text[];
  audit text := quote_ident(:'AUDITRUM_SCHEMA');
  before_tracking jsonb;
  holds_objects boolean;
  plain_test text;
  remapped text;
  key_values text;
  -- Per key: its last entry (INSERT or key change into it) and exit (DELETE or key change away) in the past, its
  -- first ones in the future, its last change in the past and its first in the future.
  summary constant text := $s$
    max(ch.id) FILTER (WHERE ch.le AND ch.op IN ('INSERT', 'MOVE_IN'))«over» AS in_le,
    max(ch.id) FILTER (WHERE ch.le AND ch.op IN ('DELETE', 'MOVE_OUT'))«over» AS out_le,
    min(ch.id) FILTER (WHERE NOT ch.le AND ch.op IN ('INSERT', 'MOVE_IN'))«over» AS in_gt,
    min(ch.id) FILTER (WHERE NOT ch.le AND ch.op IN ('DELETE', 'MOVE_OUT'))«over» AS out_gt,
    max(ch.id) FILTER (WHERE ch.le AND ch.op <> 'MARKER')«over» AS last_le,
    min(ch.id) FILTER (WHERE NOT ch.le AND ch.op <> 'MARKER')«over» AS first_gt$s$;
BEGIN
  key_names := :AUDITRUM_SCHEMA._history_key_names(t);
  SELECT array_agg(v.after_change_id + 1 ORDER BY v.idx), array_agg(v.plain ORDER BY v.idx),
    array_agg(v.remap ORDER BY v.idx), array_agg(v.missing ORDER BY v.idx),
    coalesce(jsonb_agg(jsonb_build_object('a', v.after_change_id, 'recorded_at', v.recorded_at, 'm', v.markers)
      ORDER BY v.idx) FILTER (WHERE v.markers <> '{}'), '[]'),
    coalesce(:AUDITRUM_SCHEMA._history_merge(v.markers ORDER BY v.idx DESC)
      FILTER (WHERE NOT (v.recorded_at <= at AND v.after_change_id < before_id)), '{}')
  INTO thresholds, plains, remaps, missings, markers, markers_after
  FROM :AUDITRUM_SCHEMA._history_versions(t) v;
  IF thresholds IS NULL THEN
    -- A table tracked before its states were recorded and never changed since: one state, today's.
    thresholds := '{1}'; plains := '{true}'; remaps := '{"{}"}'; missings := '{"{}"}';
    markers := '[]'; markers_after := '{}';
  END IF;
  -- Before the table was first tracked nothing was recorded: for a time before then, a marker before every change,
  -- so that a row rebuilt backwards to that time has only its key known.
  SELECT coalesce(jsonb_object_agg(a.attname, :AUDITRUM_SCHEMA._history_unknown_marker('before_tracking')), '{}')
  INTO before_tracking
  FROM pg_attribute a
  WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped AND NOT (a.attnum = ANY (t.key_attnums));
  IF NOT (t.tracked_at <= at) THEN
    markers := jsonb_build_array(jsonb_build_object('a', 0, 'recorded_at', t.tracked_at, 'm', before_tracking)) || markers;
    markers_after := markers_after || before_tracking;
  END IF;
  holds_objects := EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = t.relid AND a.attnum > 0
    AND NOT a.attisdropped AND :AUDITRUM_SCHEMA._history_holds_objects(a.atttypid));
  -- The live image holds markers (masked columns, objects of json columns wrapped) or markers after the position
  -- apply to it: such rows are sorted into known and unknown values one by one.
  live_dirty := holds_objects OR cardinality(t.mask_attnums) > 0 OR markers_after <> '{}';
  -- The whole table: every key change. One key: those the caller found worth looking for (see _history_states).
  moves := CASE WHEN keys IS NULL THEN :AUDITRUM_SCHEMA._history_moves_away(t, NULL, key_names, 0, 9223372036854775807)
    ELSE coalesce(key_moves, '[]') END;
  SELECT coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'changed_at', c.changed_at)), '[]') INTO truncates
  FROM :AUDITRUM_SCHEMA.changes c WHERE c.table_id = t.id AND c.row_key IS NULL AND c.operation = 'TRUNCATE';

  -- The key columns' values from a row_key (s.row_key), as capture records them: a composite key's row_key is
  -- their JSON array already; a one-column key's is its text, read back as the column's type.
  SELECT CASE WHEN count(*) = 1
      THEN format('jsonb_build_object(%L, %s)', min(a.attname), min(coalesce(
        replace(:AUDITRUM_SCHEMA._rendered_value_sql(a.atttypid), '«x»', format('(s.row_key)::%s', format_type(a.atttypid, a.atttypmod))),
        format('to_jsonb((s.row_key)::%s)', format_type(a.atttypid, a.atttypmod)))))
      ELSE format('jsonb_build_object(%s)', string_agg(format('%L, (s.row_key::jsonb)->%s', a.attname, k.ord - 1), ', ' ORDER BY k.ord))
    END
  INTO key_values
  FROM unnest(t.key_attnums) WITH ORDINALITY AS k(num, ord)
  JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum = k.num AND NOT a.attisdropped;

  -- «x» a recorded values object of change «id»: as it is when its state is plain (and it holds no oversized value
  -- or object that looks like a marker), else under today's names.
  plain_test := format($r$($8[width_bucket(«id», $7)] AND NOT «x» ? ''%s)$r$,
    CASE WHEN holds_objects THEN $c$ AND NOT jsonb_path_exists(«x», '$.*."$auditrum"')$c$ ELSE '' END);
  remapped := format('CASE WHEN %s THEN «x» ELSE %s._history_remap(«x», $9[width_bucket(«id», $7)]) END',
    plain_test, audit);

  -- One key: also the query over the changes in the past only (see _history_states), built by the same format
  -- (its arguments are worked out once, above or here: the format runs once per query built).
  live_sql := :AUDITRUM_SCHEMA._history_live_sql(t, keys IS NOT NULL);
  live_image := replace(:AUDITRUM_SCHEMA._history_live_image(t), '«tid»', 's.tid');
  today := :AUDITRUM_SCHEMA._history_columns(t);
  SELECT array_agg(format($q$
    WITH tr AS (
      SELECT max(x.id) FILTER (WHERE x.changed_at <= $2 AND x.id < $3) AS tr_le,
        min(x.id) FILTER (WHERE NOT (x.changed_at <= $2 AND x.id < $3)) AS tr_gt
      FROM jsonb_to_recordset($13) AS x(id bigint, changed_at timestamptz)
    ),
    changed AS (
      SELECT c.id, 0 AS sub, c.changed_at, c.row_key,
        CASE WHEN c.operation = 'UPDATE' AND c.old_values ?| $6 THEN 'MOVE_IN' ELSE c.operation END AS op,
        c.old_values, c.new_values, c.changed_at <= $2 AND c.id < $3 AS le
      FROM %1$s.changes c
      WHERE c.table_id = $1 AND c.row_key IS NOT NULL %2$s%20$s
      %3$s
    ),
    ch AS (
      SELECT * FROM changed
      %4$s
    ),
    w AS (%10$s),
    m AS (
      SELECT w.*, b.fb, b.bb, b.fb IS NOT NULL AND b.fb = w.in_le AND w.le AND w.id >= b.fb AS fwd,
        b.fb IS NULL AND NOT w.le AND (b.bb IS NULL OR w.id < b.bb OR (w.id = b.bb AND w.op IN ('DELETE', 'MOVE_OUT'))) AS bwd
      FROM w CROSS JOIN tr
      CROSS JOIN LATERAL (SELECT CASE WHEN $5 THEN NULL ELSE greatest(w.in_le, w.out_le, tr.tr_le) END AS fb,
        least(w.in_gt, w.out_gt, tr.tr_gt) AS bb) b
      %18$s
    ),
    k AS (
      SELECT %11$s AS row_key,
        min(m.fb) AS fb, min(m.bb) AS bb, min(m.in_le) AS in_le, min(m.out_gt) AS out_gt,
        min(m.last_le) AS last_le, min(m.first_gt) AS first_gt, min(m.in_gt) AS in_gt,
        max(m.id) FILTER (WHERE m.op <> 'MARKER' AND (m.in_gt IS NULL OR m.id < m.in_gt)) AS before_entry,
        max(m.changed_at) FILTER (WHERE m.id = m.last_le AND m.op <> 'MARKER') AS last_at,
        %5$s._history_merge(CASE
            WHEN m.op = 'MARKER' THEN m.new_values
            WHEN m.op = 'MOVE_IN' AND m.id = m.fb THEN %5$s._history_moved_image($14, m.id, true)
            ELSE %6$s END%17$s) FILTER (WHERE m.fwd) AS forward,
        -- Backwards the first change after the position wins: collected in the same order, merged newest first.
        array_agg(CASE
            WHEN m.op = 'MARKER' THEN m.old_values
            WHEN m.op = 'MOVE_OUT' THEN %5$s._history_moved_image($14, m.id, false)
            ELSE %7$s END%17$s) FILTER (WHERE m.bwd) AS backward,
        -- With no full image in the past: what the UPDATEs before the position set (for a row that no full image
        -- after the position gives either: removed by a TRUNCATE, or gone while the table was not tracked).
        %5$s._history_merge(CASE WHEN m.op = 'MARKER' THEN m.new_values ELSE %6$s END%17$s)
          FILTER (WHERE m.fb IS NULL AND m.le AND m.op IN ('UPDATE', 'MARKER')) AS before_values,
        coalesce(bool_or(m.op NOT IN ('INSERT', 'UPDATE', 'DELETE') OR NOT (CASE WHEN m.fwd THEN %13$s ELSE %14$s END))
          FILTER (WHERE m.fwd OR m.bwd), false) AS dirty
      FROM m %12$s
    ),
    live AS (%8$s),
    s AS (
      SELECT coalesce(k.row_key, live.row_key) AS row_key, k.fb, k.bb, k.in_le, k.out_gt, k.last_le, k.first_gt,
        k.last_at, k.forward, k.dirty, live.tid, k.in_gt, k.before_entry, k.before_values,
        -- A key change may have moved the row away from the key after its last change: only when the key is
        -- entered again later, or is empty today.
        coalesce(k.in_gt IS NOT NULL, false) OR live.row_key IS NULL AS may_have_moved,
        k.backward AS backward_changes,
        CASE
          WHEN k.row_key IS NULL THEN CASE WHEN $11 = '{}' THEN 'live' ELSE 'backward' END
          WHEN k.fb IS NOT NULL THEN CASE WHEN k.fb = k.in_le THEN 'forward' ELSE 'none' END
          WHEN k.bb IS NOT NULL AND k.bb = k.out_gt THEN 'backward'
          WHEN k.bb IS NOT NULL THEN CASE WHEN k.first_gt < k.bb OR k.last_le IS NOT NULL THEN 'backward' ELSE 'none' END
          WHEN live.row_key IS NOT NULL THEN CASE WHEN k.backward IS NULL THEN 'live' ELSE 'backward' END
          ELSE 'backward'
        END AS rebuilt_from
      FROM k FULL JOIN live ON live.row_key = k.row_key
    ),
    -- Built once per row and only for the rows that need them (OFFSET 0 keeps them from being inlined into each
    -- use): the live image, and the changes after the position merged newest first (the first one wins).
    si AS (
      SELECT s.*, li.image, li.backward FROM s
      CROSS JOIN LATERAL (SELECT CASE WHEN s.fb IS NULL AND s.bb IS NULL AND s.tid IS NOT NULL THEN %16$s END AS image,
        CASE WHEN s.backward_changes IS NOT NULL THEN (SELECT %5$s._history_merge(b.j ORDER BY b.i DESC)
          FROM unnest(s.backward_changes) WITH ORDINALITY AS b(j, i)) END AS backward
        OFFSET 0) li
    ),
    states AS (
      SELECT s.row_key, s.rebuilt_from <> 'none' AS "exists",
        CASE
          WHEN s.rebuilt_from = 'none' THEN '{}'::jsonb
          WHEN s.fb IS NOT NULL THEN s.forward
          WHEN s.fb IS NULL AND s.bb IS NULL AND s.tid IS NOT NULL
            THEN s.image || CASE WHEN s.last_le IS NULL AND s.first_gt IS NULL THEN $11 ELSE coalesce(s.backward, '{}') END
          WHEN s.bb IS NOT NULL AND s.bb = s.out_gt THEN coalesce(s.backward, '{}')
          -- No full image before or after: the key, what UPDATEs before the position set, what later ones undo.
          ELSE %19$s || %1$s._history_fill(coalesce(s.backward, '{}'), coalesce(s.before_values, '{}'))
        END AS "values",
        CASE
          WHEN s.fb IS NOT NULL THEN $10[width_bucket(s.fb, $7)]
          WHEN s.bb IS NOT NULL AND s.bb = s.out_gt THEN $10[width_bucket(s.bb, $7)]
          WHEN s.bb IS NULL AND s.tid IS NOT NULL THEN $10[cardinality($7)]
          ELSE '{}'::jsonb
        END AS missing,
        s.last_le AS last_change_id, s.last_at AS last_changed_at, s.rebuilt_from,
        coalesce(s.dirty, false) OR (s.fb IS NULL AND s.tid IS NOT NULL AND $16)
          OR (s.fb IS NULL AND s.before_values IS NOT NULL) AS dirty,
        s.may_have_moved, coalesce(s.before_entry, 0) AS search_after, coalesce(s.in_gt, 9223372036854775807) AS search_before
      FROM si AS s
      %9$s
    )
    %15$s
  $q$,
    audit,
    CASE WHEN keys IS NULL THEN '' ELSE 'AND c.row_key = ANY ($4)' END,
    CASE WHEN moves = '[]' THEN '' ELSE format($m$UNION ALL
      SELECT m.id, 0, m.changed_at, m.old_key, 'MOVE_OUT', NULL, NULL, m.changed_at <= $2 AND m.id < $3
      FROM jsonb_to_recordset($12) AS m(id bigint, changed_at timestamptz, old_key text) %s$m$,
      CASE WHEN keys IS NULL THEN '' ELSE 'WHERE m.old_key = ANY ($4)' END) END,
    CASE WHEN markers = '[]' THEN '' ELSE $m$UNION ALL
      SELECT mk.a, 1, mk.recorded_at, r.row_key, 'MARKER', mk.m, mk.m, mk.recorded_at <= $2 AND mk.a < $3
      FROM (SELECT DISTINCT changed.row_key FROM changed) r
      CROSS JOIN jsonb_to_recordset($15) AS mk(a bigint, recorded_at timestamptz, m jsonb)$m$ END,
    audit,
    replace(replace(remapped, '«x»', 'm.new_values'), '«id»', 'm.id'),
    replace(replace(remapped, '«x»', 'm.old_values'), '«id»', 'm.id'),
    live_sql,
    CASE WHEN keys IS NULL THEN $w$WHERE s.rebuilt_from <> 'none'$w$ ELSE '' END,
    -- Each change with its key's summary: a window over the whole table, a plain aggregate for one key.
    CASE WHEN keys IS NULL THEN format('SELECT ch.*, %s FROM ch WINDOW k AS (PARTITION BY ch.row_key ORDER BY ch.id, '
        'ch.sub ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)', replace(summary, '«over»', ' OVER k'))
      ELSE format('SELECT ch.*, s0.* FROM ch CROSS JOIN (SELECT %s FROM ch) s0', replace(summary, '«over»', '')) END,
    CASE WHEN keys IS NULL THEN 'm.row_key' ELSE 'min(m.row_key)' END,
    CASE WHEN keys IS NULL THEN 'GROUP BY m.row_key' ELSE 'HAVING count(*) > 0' END,
    replace(replace(plain_test, '«x»', 'm.new_values'), '«id»', 'm.id'),
    replace(replace(plain_test, '«x»', 'm.old_values'), '«id»', 'm.id'),
    CASE WHEN finish THEN format($f$
    SELECT st.row_key,
      CASE WHEN f.clean THEN f.v ELSE %1$s._history_known(f.v, %2$L::text[]) END AS "values",
      CASE WHEN f.clean THEN '[]'::jsonb ELSE %1$s._history_unknown(f.v, st.missing, %2$L::text[]) END AS unknown,
      st.last_change_id, st.last_changed_at, st.rebuilt_from
    FROM states st
    CROSS JOIN LATERAL (SELECT st."values" AS v, NOT st.dirty AND st."values" ?& %2$L::text[] AS clean OFFSET 0) f$f$,
      audit, today)
    ELSE 'SELECT row_key, "exists", "values", missing, last_change_id, last_changed_at, rebuilt_from, may_have_moved, '
      'search_after, search_before FROM states' END,
    live_image,
    -- The merges take a key's changes in id order: for one key they sort them; for the whole table the window has
    -- sorted them already (by key, id) and the aggregate reads them in that order (an ORDER BY in each aggregate
    -- would set up a sort per key: 13% of the time for a million keys).
    CASE WHEN keys IS NULL THEN '' ELSE ' ORDER BY m.id, m.sub' END,
    CASE WHEN keys IS NOT NULL THEN '' WHEN markers = '[]' THEN 'ORDER BY w.row_key, w.id'
      ELSE 'ORDER BY w.row_key, w.id, w.sub' END,
    key_values, f.past_filter) ORDER BY f.n)
  INTO variants
  FROM (VALUES (1, ''), (2, ' AND c.changed_at <= $2 AND c.id < $3')) AS f(n, past_filter)
  WHERE f.n = 1 OR keys IS NOT NULL;
  query := variants[1];
  past_query := variants[2];
  table_id := t.id;
END;
$$;

-- The rows rebuilt by _history_plan's query (not finished: values with markers, missing reasons), for one key or
-- every key; what row_as_of and the restore functions read.
CREATE FUNCTION :AUDITRUM_SCHEMA._history_states(target regclass, at timestamptz, before_id bigint, keys text[],
  backward_only boolean)
RETURNS TABLE (row_key text, "exists" boolean, "values" jsonb, missing jsonb, last_change_id bigint,
  last_changed_at timestamptz, rebuilt_from text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p record;
  r record;
  moves jsonb;
  found_row boolean := false;
  entry_after bigint;
  before_entry bigint;
  entered_first boolean;
BEGIN
  p := :AUDITRUM_SCHEMA._history_plan(target, at, before_id, keys, backward_only, false, NULL);
  -- One key: a row rebuilt forwards needs nothing after the position but where its key is next entered (for the
  -- key changes below), so its changes in the past are rebuilt first; those after it are only read through when
  -- no full image before the position gives the row (a row of 10,000 versions halfway: half the changes merged).
  -- Tried when the key's first change, in the past, brought a row in (else, as for a row from before tracking,
  -- a forward rebuild is unlikely and the first pass would be wasted).
  IF keys IS NOT NULL AND NOT backward_only THEN
    SELECT ch.changed_at <= at AND ch.id < before_id
        AND (ch.operation = 'INSERT' OR (ch.operation = 'UPDATE' AND ch.old_values ?| p.key_names))
    INTO entered_first
    FROM :AUDITRUM_SCHEMA.changes ch WHERE ch.table_id = p.table_id AND ch.row_key = keys[1] ORDER BY ch.id LIMIT 1;
  END IF;
  IF entered_first THEN
    FOR r IN EXECUTE p.past_query
      USING p.table_id, at, before_id, keys, backward_only, p.key_names, p.thresholds, p.plains, p.remaps, p.missings,
        p.markers_after, p.moves, p.truncates, target, p.markers, p.live_dirty
    LOOP
      found_row := r.rebuilt_from = 'forward';
    END LOOP;
    IF found_row THEN
      SELECT min(ch.id) INTO entry_after FROM :AUDITRUM_SCHEMA.changes ch
      WHERE ch.table_id = p.table_id AND ch.row_key = keys[1] AND NOT (ch.changed_at <= at AND ch.id < before_id)
        AND (ch.operation = 'INSERT' OR (ch.operation = 'UPDATE' AND ch.old_values ?| p.key_names));
      SELECT max(ch.id) INTO before_entry FROM :AUDITRUM_SCHEMA.changes ch
      WHERE ch.table_id = p.table_id AND ch.row_key = keys[1] AND ch.id < coalesce(entry_after, 9223372036854775807);
      r.may_have_moved := r.may_have_moved OR entry_after IS NOT NULL;
      r.search_after := coalesce(before_entry, 0);
      r.search_before := coalesce(entry_after, 9223372036854775807);
    END IF;
  END IF;
  IF NOT found_row THEN
    FOR r IN EXECUTE p.query
      USING p.table_id, at, before_id, keys, backward_only, p.key_names, p.thresholds, p.plains, p.remaps, p.missings,
        p.markers_after, p.moves, p.truncates, target, p.markers, p.live_dirty
    LOOP
      found_row := true;
      EXIT WHEN keys IS NOT NULL;
      row_key := r.row_key; "exists" := r."exists"; "values" := r."values"; missing := r.missing;
      last_change_id := r.last_change_id; last_changed_at := r.last_changed_at; rebuilt_from := r.rebuilt_from;
      RETURN NEXT;
    END LOOP;
  END IF;
  IF keys IS NULL THEN
    RETURN;
  END IF;
  -- One key: a key change that moved the row away is recorded under the new key. It is looked for only where it
  -- can be (usually nowhere: the key is still taken today and not entered again later), then the row rebuilt again
  -- with what was found.
  IF NOT found_row OR r.may_have_moved THEN
    moves := :AUDITRUM_SCHEMA._history_moves_away(:AUDITRUM_SCHEMA._history_table(target), keys[1], p.key_names,
      CASE WHEN found_row THEN r.search_after ELSE 0 END, CASE WHEN found_row THEN r.search_before ELSE 9223372036854775807 END);
    IF moves <> '[]' THEN
      p := :AUDITRUM_SCHEMA._history_plan(target, at, before_id, keys, backward_only, false, moves);
      found_row := false;
      FOR r IN EXECUTE p.query
        USING p.table_id, at, before_id, keys, backward_only, p.key_names, p.thresholds, p.plains, p.remaps, p.missings,
          p.markers_after, p.moves, p.truncates, target, p.markers, p.live_dirty
      LOOP
        found_row := true;
      END LOOP;
    END IF;
  END IF;
  IF found_row THEN
    row_key := r.row_key; "exists" := r."exists"; "values" := r."values"; missing := r.missing;
    last_change_id := r.last_change_id; last_changed_at := r.last_changed_at; rebuilt_from := r.rebuilt_from;
    RETURN NEXT;
  END IF;
END;
$$;

-- The full image a key change gives: `forward`, the row as it came in (its old key's state just before the
-- change, plus the change's new values); else the row as it left the old key (the new key's state just after the
-- change, rebuilt backwards, plus the change's old values). Markers included; {} when nothing is known.
CREATE FUNCTION :AUDITRUM_SCHEMA._history_moved_image(target regclass, change_id bigint, forward boolean) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t :AUDITRUM_SCHEMA.tracked_tables := :AUDITRUM_SCHEMA._history_table(target);
  c record;
  v record;
  state jsonb;
  recorded jsonb;
BEGIN
  SELECT ch.row_key, ch.old_values, ch.new_values INTO c
  FROM :AUDITRUM_SCHEMA.changes ch WHERE ch.id = change_id AND ch.table_id = t.id;
  SELECT hv.plain, hv.remap INTO v FROM :AUDITRUM_SCHEMA._history_versions(t) hv
  WHERE hv.after_change_id < change_id ORDER BY hv.idx DESC LIMIT 1;
  IF forward THEN
    SELECT s."values" INTO state FROM :AUDITRUM_SCHEMA._history_states(target, 'infinity', change_id,
      ARRAY[:AUDITRUM_SCHEMA._history_old_key(t, change_id)], false) s WHERE s."exists";
    recorded := c.new_values;
  ELSE
    SELECT s."values" INTO state FROM :AUDITRUM_SCHEMA._history_states(target, 'infinity', change_id + 1,
      ARRAY[c.row_key], true) s WHERE s."exists";
    recorded := c.old_values;
  END IF;
  RETURN coalesce(state, '{}') || :AUDITRUM_SCHEMA._history_remap(recorded,
    coalesce(v.remap, (SELECT jsonb_object_agg(n, jsonb_build_object('to', n, 'masked', false))
      FROM unnest(:AUDITRUM_SCHEMA._history_columns(t)) n)));
END;
$$;

-- A row's values at a position from both sides when no full image gives them: what the first changes after it
-- undo (`after`, merged newest first), and for the columns those leave unknown or untouched, what the changes
-- before it set (`before`). A marker after the position says that later values cannot be trusted, not that an
-- earlier recorded one is wrong.
CREATE FUNCTION :AUDITRUM_SCHEMA._history_fill(after jsonb, before jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT after || coalesce(jsonb_object_agg(e.key, e.value), '{}')
  FROM jsonb_each(before) e
  WHERE NOT after ? e.key OR (jsonb_typeof(after->e.key) = 'object' AND after->e.key->>'$auditrum' = 'unknown')
$$;

-- The known values of a state (markers left out, wrapped objects unwrapped), under today's names.
CREATE FUNCTION :AUDITRUM_SCHEMA._history_known(state jsonb, today text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(jsonb_object_agg(e.key, CASE WHEN e.value->>'$auditrum' = 'value' THEN e.value->'value' ELSE e.value END)
    FILTER (WHERE NOT coalesce(e.value->>'$auditrum' = 'unknown', false)), '{}')
  FROM jsonb_each(state) e WHERE e.key = ANY (today)
$$;

-- Today's columns whose value a state does not know, in column order: [{column, reason}].
CREATE FUNCTION :AUDITRUM_SCHEMA._history_unknown(state jsonb, missing jsonb, today text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object('column', x.name,
      'reason', coalesce(state->x.name->>'reason', missing->>x.name, 'not_recorded')) ORDER BY x.i), '[]')
  FROM unnest(today) WITH ORDINALITY AS x(name, i)
  WHERE NOT state ? x.name OR coalesce(state->x.name->>'$auditrum' = 'unknown', false)
$$;

/**
 * The row of tracked table `target` with key `key` (a value, an array in key order, or an object by column name:
 * see row_key) as it was at `at`: every change with changed_at <= at is in the past. One row: `exists`; `values`,
 * its known values under today's column names; `unknown`, [{column, reason}] for today's columns whose value
 * then is not known (reasons: excluded, masked, oversized, added_later, untracked_gap, before_tracking,
 * not_recorded); the last change of the row at or before `at`; `rebuilt_from`: forward (from an INSERT), backward
 * (from a later DELETE or the live row: the row existed before tracking), live (unchanged since), none (it did not
 * exist).
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.row_as_of(target regclass, key jsonb, at timestamptz)
RETURNS TABLE (row_key text, "exists" boolean, "values" jsonb, unknown jsonb, last_change_id bigint,
  last_changed_at timestamptz, rebuilt_from text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  rk text := :AUDITRUM_SCHEMA.row_key(target, key);
  today text[] := :AUDITRUM_SCHEMA._history_columns(:AUDITRUM_SCHEMA._history_table(target));
BEGIN
  IF at IS NULL OR NOT isfinite(at) THEN
    RAISE EXCEPTION 'auditrum: give a finite time to read table % as of, not %', target, coalesce(at::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN QUERY
  SELECT rk, coalesce(s."exists", false),
    CASE WHEN s."exists" THEN :AUDITRUM_SCHEMA._history_known(s."values", today) ELSE '{}'::jsonb END,
    CASE WHEN s."exists" THEN :AUDITRUM_SCHEMA._history_unknown(s."values", s.missing, today) ELSE '[]'::jsonb END,
    s.last_change_id, s.last_changed_at, coalesce(s.rebuilt_from, 'none')
  FROM (SELECT 1) one
  LEFT JOIN :AUDITRUM_SCHEMA._history_states(target, at, 9223372036854775807, ARRAY[rk], false) s ON true;
END;
$$;

/**
 * Every row of tracked table `target` that existed at `at`, as row_as_of returns it (without `exists`), in no
 * particular order. Set-based over the table's log and live rows; stream it with COPY or a cursor.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.table_as_of(target regclass, at timestamptz)
RETURNS TABLE (row_key text, "values" jsonb, unknown jsonb, last_change_id bigint, last_changed_at timestamptz,
  rebuilt_from text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p record;
  work_mem_before text;
BEGIN
  IF at IS NULL OR NOT isfinite(at) THEN
    RAISE EXCEPTION 'auditrum: give a finite time to read table % as of, not %', target, coalesce(at::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  p := :AUDITRUM_SCHEMA._history_plan(target, at, 9223372036854775807, NULL, false, true, NULL);
  -- The join of the log's rows with the live table hashes a row per key: with the default 4 MB it spills to disk
  -- in dozens of batches. At least 64 MB for this query only (a higher setting is kept), then back as it was.
  work_mem_before := current_setting('work_mem');
  IF pg_size_bytes(work_mem_before) < 64 * 1024 * 1024 THEN
    PERFORM set_config('work_mem', '64MB', true);
  END IF;
  RETURN QUERY EXECUTE p.query
    USING p.table_id, at, 9223372036854775807::bigint, NULL::text[], false, p.key_names, p.thresholds, p.plains,
      p.remaps, p.missings, p.markers_after, p.moves, p.truncates, target, p.markers, p.live_dirty;
  PERFORM set_config('work_mem', work_mem_before, true);
END;
$$;

/**
 * Every recorded value of one column (today's name `field`) of the row with key `key`, oldest first: the INSERT's
 * value, each UPDATE that changed it, a DELETE (value NULL, the value it removed as old_value). A row whose key
 * changed keeps its history from before, under the old key (row_key says which). `unknown_reason` is set when the
 * value after the change is not known (masked, oversized; excluded or added_later for an INSERT that did not
 * record it). `reason` is the reason the change carried.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.field_history(target regclass, key jsonb, field text)
RETURNS TABLE (change_id bigint, changed_at timestamptz, operation text, row_key text, value jsonb, old_value jsonb,
  unknown_reason text, actor_id text, request_id text, reason text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t :AUDITRUM_SCHEMA.tracked_tables := :AUDITRUM_SCHEMA._history_table(target);
  rk text := :AUDITRUM_SCHEMA.row_key(target, key);
  key_names text[] := :AUDITRUM_SCHEMA._history_key_names(t);
  lineage jsonb := '[]';
  current_key text;
  upper_id constant bigint := 9223372036854775807;
  lower_id bigint;
  move_id bigint;
  thresholds bigint[];
  plains boolean[];
  remaps jsonb[];
  missings jsonb[];
BEGIN
  IF field IS NULL OR NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = t.relid AND a.attname = field
      AND a.attnum > 0 AND NOT a.attisdropped) THEN
    RAISE EXCEPTION 'auditrum: table % has no column %', target, coalesce(quote_ident(field), 'NULL')
      USING ERRCODE = 'undefined_column';
  END IF;
  -- The keys the row had: each key change into a key continues the row's history under the old key, from the
  -- old key's last INSERT or key change into it before (what came before that was another row).
  lineage := jsonb_build_array(jsonb_build_object('key', rk, 'from', 0, 'to', upper_id));
  FOR i IN 0..1000 LOOP
    EXIT WHEN i >= jsonb_array_length(lineage);
    current_key := lineage->i->>'key';
    FOR move_id IN
      SELECT c.id FROM :AUDITRUM_SCHEMA.changes c
      WHERE c.table_id = t.id AND c.row_key = current_key AND c.operation = 'UPDATE' AND c.old_values ?| key_names
        AND c.id >= (lineage->i->>'from')::bigint AND c.id < (lineage->i->>'to')::bigint
    LOOP
      current_key := :AUDITRUM_SCHEMA._history_old_key(t, move_id);
      SELECT max(c.id) INTO lower_id FROM :AUDITRUM_SCHEMA.changes c
      WHERE c.table_id = t.id AND c.row_key = current_key AND c.id < move_id
        AND (c.operation = 'INSERT' OR (c.operation = 'UPDATE' AND c.old_values ?| key_names));
      lineage := lineage || jsonb_build_object('key', current_key, 'from', coalesce(lower_id, 0), 'to', move_id);
    END LOOP;
  END LOOP;
  SELECT array_agg(v.after_change_id + 1 ORDER BY v.idx), array_agg(v.plain ORDER BY v.idx),
    array_agg(v.remap ORDER BY v.idx), array_agg(v.missing ORDER BY v.idx)
  INTO thresholds, plains, remaps, missings
  FROM :AUDITRUM_SCHEMA._history_versions(t) v;
  IF thresholds IS NULL THEN
    thresholds := '{1}'; plains := '{true}'; remaps := '{"{}"}'; missings := '{"{}"}';
  END IF;
  -- Each change's new and old value of the column under today's name (read as recorded when its state is plain),
  -- a marker when it is not known.
  RETURN QUERY
  SELECT c.id, c.changed_at, c.operation, c.row_key,
    CASE WHEN c.operation = 'DELETE' OR n.marker = 'unknown' THEN NULL WHEN n.marker = 'value' THEN n.v->'value' ELSE n.v END,
    CASE WHEN o.marker = 'unknown' THEN NULL WHEN o.marker = 'value' THEN o.v->'value' ELSE o.v END,
    CASE
      WHEN c.operation = 'DELETE' THEN NULL
      WHEN n.v IS NULL THEN coalesce(missings[b.v]->>field, 'not_recorded')
      WHEN n.marker = 'unknown' THEN n.v->>'reason'
    END,
    c.actor_id, c.request_id, c.context->>'reason'
  FROM jsonb_to_recordset(lineage) AS l(key text, "from" bigint, "to" bigint)
  JOIN :AUDITRUM_SCHEMA.changes c ON c.table_id = t.id AND c.row_key = l.key AND c.id >= l."from" AND c.id < l."to"
  CROSS JOIN LATERAL (SELECT width_bucket(c.id, thresholds) AS v) b
  CROSS JOIN LATERAL (SELECT x.v, CASE WHEN jsonb_typeof(x.v) = 'object' THEN x.v->>'$auditrum' END AS marker
    FROM (SELECT CASE
      WHEN plains[b.v] AND NOT c.new_values ? '' AND NOT jsonb_path_exists(c.new_values, '$.*."$auditrum"')
        THEN c.new_values->field
      ELSE :AUDITRUM_SCHEMA._history_remap(c.new_values, remaps[b.v])->field END AS v) x) n
  CROSS JOIN LATERAL (SELECT x.v, CASE WHEN jsonb_typeof(x.v) = 'object' THEN x.v->>'$auditrum' END AS marker
    FROM (SELECT CASE
      WHEN plains[b.v] AND NOT c.old_values ? '' AND NOT jsonb_path_exists(c.old_values, '$.*."$auditrum"')
        THEN c.old_values->field
      ELSE :AUDITRUM_SCHEMA._history_remap(c.old_values, remaps[b.v])->field END AS v) x) o
  WHERE c.operation IN ('INSERT', 'DELETE') OR n.v IS NOT NULL
  ORDER BY c.id;
END;
$$;

/**
 * table_as_of's query as one statement, its values spelled in as literals, for a reader that streams it with
 * `COPY (…) TO STDOUT` (COPY takes no parameters) without the result set that a function returning rows keeps
 * whole: the reader starts on the first rows while the server still makes the last. Read it and run it in one
 * REPEATABLE READ transaction, so that both see the same log.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._history_table_sql(target regclass, at timestamptz) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  p record;
  literals text[];
BEGIN
  IF at IS NULL OR NOT isfinite(at) THEN
    RAISE EXCEPTION 'auditrum: give a finite time to read table % as of, not %', target, coalesce(at::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  p := :AUDITRUM_SCHEMA._history_plan(target, at, 9223372036854775807, NULL, false, true, NULL);
  -- Each in parentheses: a cast literal is then subscripted and compared like the parameter it stands for.
  literals := ARRAY[
    format('(%L::integer)', p.table_id), format('(%L::timestamptz)', at), '(9223372036854775807::bigint)',
    '(NULL::text[])', '(false)', format('(%L::text[])', p.key_names), format('(%L::bigint[])', p.thresholds),
    format('(%L::boolean[])', p.plains), format('(%L::jsonb[])', p.remaps), format('(%L::jsonb[])', p.missings),
    format('(%L::jsonb)', p.markers_after), format('(%L::jsonb)', p.moves), format('(%L::jsonb)', p.truncates),
    format('(%L::oid::regclass)', target::oid), format('(%L::jsonb)', p.markers), format('(%L::boolean)', p.live_dirty)];
  -- One pass over the query's tokens: a quoted literal, a quoted identifier or a comment is kept as it is (column
  -- names are spelled in those and may hold anything), a parameter $n becomes its literal.
  RETURN string_agg(CASE WHEN t.token[1] ~ '^\$[0-9]+$' THEN literals[substr(t.token[1], 2)::int] ELSE t.token[1] END,
    '' ORDER BY t.n)
  FROM regexp_matches(p.query, $re$('(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\$[0-9]+|[^'"$-]+|.)$re$, 'g')
    WITH ORDINALITY AS t(token, n);
END;
$$;
