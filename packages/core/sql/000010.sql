-- Auditrum schema, version 10: history read speed. A row as of a time rebuilt forwards merges only the changes
-- that decide it (its last INSERT and the newest UPDATE of each column since) in a statement whose plan the session
-- keeps, and looks after the time only at the key's next change; the whole-table query's merges say the order they
-- read the changes in. The functions' signatures and results are those of version 7.

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
 * and id gives each change its key's summary; the merges read the changes in that order.
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._history_plan(target regclass, at timestamptz, before_id bigint, keys text[],
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
    -- Each change's part in the merges is worked out here, so that the aggregates below take plain columns: an
    -- aggregate with a FILTER and an ORDER BY reads presorted input only when its arguments are columns.
    m AS (
      SELECT x.*,
        CASE WHEN x.fwd THEN CASE
            WHEN x.op = 'MARKER' THEN x.new_values
            WHEN x.op = 'MOVE_IN' AND x.id = x.fb THEN %5$s._history_moved_image($14, x.id, true)
            ELSE %6$s END END AS fwd_values,
        CASE WHEN x.bwd THEN CASE
            WHEN x.op = 'MARKER' THEN x.old_values
            WHEN x.op = 'MOVE_OUT' THEN %5$s._history_moved_image($14, x.id, false)
            ELSE %7$s END END AS bwd_values,
        CASE WHEN x.fb IS NULL AND x.le AND x.op IN ('UPDATE', 'MARKER') THEN CASE
            WHEN x.op = 'MARKER' THEN x.new_values ELSE %6$s END END AS before_values
      FROM (
        SELECT w.*, b.fb, b.bb, b.fb IS NOT NULL AND b.fb = w.in_le AND w.le AND w.id >= b.fb AS fwd,
          b.fb IS NULL AND NOT w.le AND (b.bb IS NULL OR w.id < b.bb OR (w.id = b.bb AND w.op IN ('DELETE', 'MOVE_OUT'))) AS bwd
        FROM w CROSS JOIN tr
        CROSS JOIN LATERAL (SELECT CASE WHEN $5 THEN NULL ELSE greatest(w.in_le, w.out_le, tr.tr_le) END AS fb,
          least(w.in_gt, w.out_gt, tr.tr_gt) AS bb) b
      ) x
      %18$s
    ),
    k AS (
      SELECT %11$s AS row_key,
        min(m.fb) AS fb, min(m.bb) AS bb, min(m.in_le) AS in_le, min(m.out_gt) AS out_gt,
        min(m.last_le) AS last_le, min(m.first_gt) AS first_gt, min(m.in_gt) AS in_gt,
        max(m.id) FILTER (WHERE m.op <> 'MARKER' AND (m.in_gt IS NULL OR m.id < m.in_gt)) AS before_entry,
        max(m.changed_at) FILTER (WHERE m.id = m.last_le AND m.op <> 'MARKER') AS last_at,
        %5$s._history_merge(m.fwd_values%17$s) FILTER (WHERE m.fwd) AS forward,
        -- Backwards the first change after the position wins: collected in the same order, merged newest first.
        array_agg(m.bwd_values%17$s) FILTER (WHERE m.bwd) AS backward,
        -- With no full image in the past: what the UPDATEs before the position set (for a row that no full image
        -- after the position gives either: removed by a TRUNCATE, or gone while the table was not tracked).
        %5$s._history_merge(m.before_values%17$s)
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
    replace(replace(remapped, '«x»', 'x.new_values'), '«id»', 'x.id'),
    replace(replace(remapped, '«x»', 'x.old_values'), '«id»', 'x.id'),
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
    -- The merges take a key's changes in id order, said in each aggregate (an aggregate's input order is not
    -- guaranteed otherwise). For the whole table the rows come sorted already (by key, id, and sub when there are
    -- markers), in the order the aggregates ask for: PostgreSQL 16 and later see that and sort nothing (asked for
    -- an order the input does not visibly have, such as sub where it is always 0, they sort each key's changes
    -- again: 16% more time); before 16 each key's changes are sorted again.
    CASE WHEN keys IS NOT NULL OR markers <> '[]' THEN ' ORDER BY m.id, m.sub' ELSE ' ORDER BY m.id' END,
    CASE WHEN keys IS NOT NULL THEN '' WHEN markers = '[]' THEN 'ORDER BY x.row_key, x.id'
      ELSE 'ORDER BY x.row_key, x.id, x.sub' END,
    key_values, f.past_filter) ORDER BY f.n)
  INTO variants
  FROM (VALUES (1, ''), (2, ' AND c.changed_at <= $2 AND c.id < $3')) AS f(n, past_filter)
  WHERE f.n = 1 OR keys IS NOT NULL;
  query := variants[1];
  past_query := variants[2];
  table_id := t.id;
END;
$$;

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

/**
 * One page of blame's walk back over a row's changes, newest first (ids below `below`, at most `page`): the key's
 * changes (with `written`, only INSERT, DELETE and the UPDATEs that wrote one of those stored names) merged with the
 * table's TRUNCATEs, each change's facts without its values (a value may be a megabyte) and, for the key's own, the
 * stored names its new values hold. A function so that the session keeps its plan: planned at every call, the
 * statement over every partition of the log cost more than reading the page.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._history_walk_page(of_table integer, of_key text, below bigint, written text[],
  page integer)
RETURNS TABLE (id text, changed_at text, txid text, table_id integer, operation text, row_key text, actor_id text,
  request_id text, context jsonb, own boolean, names text[])
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN QUERY
  SELECT p.id::text, to_char(p.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), p.txid::text,
    p.table_id, p.operation, p.row_key, p.actor_id, p.request_id, p.context, p.own,
    CASE WHEN p.own THEN ARRAY(SELECT jsonb_object_keys(p.new_values)) END
  FROM (
    (SELECT c.id, c.changed_at, c.txid, c.table_id, c.operation, c.row_key, c.new_values, c.actor_id, c.request_id,
       c.context, true AS own
     FROM :AUDITRUM_SCHEMA.changes c
     WHERE c.table_id = of_table AND c.row_key = of_key AND c.id < below
       AND (written IS NULL OR c.operation <> 'UPDATE' OR c.new_values ?| written)
     ORDER BY c.id DESC LIMIT page)
    UNION ALL
    (SELECT c.id, c.changed_at, c.txid, c.table_id, c.operation, c.row_key, NULL, c.actor_id, c.request_id,
       c.context, false
     FROM :AUDITRUM_SCHEMA.changes c
     WHERE c.table_id = of_table AND c.row_key IS NULL AND c.operation = 'TRUNCATE' AND c.id < below
     ORDER BY c.id DESC LIMIT page)
  ) p
  ORDER BY p.id DESC LIMIT page;
END;
$$;
