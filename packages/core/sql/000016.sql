-- Auditrum schema, version 16: two history defects (issue 12).
--
-- A row whose last recorded change is an INSERT or UPDATE and which went while its table was not tracked was read
-- as existing at every later time, its values unknown: existence itself can now be unknown (NULL). The untracked
-- periods after the row's last recorded change are weighed against what followed them: the row's next recorded
-- change (an UPDATE or DELETE proves it existed, an INSERT that it did not), a TRUNCATE (it may have been removed by
-- it), or, with nothing recorded since, the live table. Replaced: _history_plan (the whole table's query gives each
-- row's existence and lists rows of unknown existence), _history_states (one row's existence), row_as_of;
-- table_as_of and table_as_of_page return `exists` (dropped and created again: their columns change).
--
-- A table dropped and made again under the same name (or a table renamed away and another given its name) took the
-- old registry row, so the old table's changes read as the new one's past: track() now finds a table's registry row
-- by its relation, and a new relation gets a row and a history of its own (replaced: track; the registry's names
-- are unique among tracked tables only).

-- Every period a table was not tracked, oldest first: [{start_id, start_at, end_at}], start_id the change
-- sequence's value when it began (the table's changes after it have higher ids), end_at when tracking resumed
-- (NULL: not tracked now, or dropped).
CREATE FUNCTION :AUDITRUM_SCHEMA._history_gaps(table_id integer) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object('start_id', v.after_change_id, 'start_at', v.recorded_at,
      'end_at', v.end_at) ORDER BY v.after_change_id, v.id) FILTER (WHERE NOT v.tracking), '[]')
  FROM (
    SELECT tv.id, tv.after_change_id, tv.recorded_at, tv.tracking,
      min(tv.recorded_at) FILTER (WHERE tv.tracking) OVER (ORDER BY tv.after_change_id, tv.id
        ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS end_at
    FROM :AUDITRUM_SCHEMA.table_versions tv WHERE tv.table_id = _history_gaps.table_id
  ) v
$$;

/**
 * Whether a row that existed as last recorded (its last change at or before `at`, id `last_id`, an INSERT or UPDATE)
 * existed at `at`, given the table's untracked periods (`gaps`, see _history_gaps) and what followed: `evidence`,
 * whether the row existed just before `evidence_id` (its next recorded change, or a TRUNCATE; NULL id: now), NULL
 * when that does not tell. Only the periods that began after its last change and before that evidence count:
 * - none, or `at` before the first of them (tracking was on, a DELETE would have been recorded): true;
 * - the row existed after them (an UPDATE or DELETE of it, or live now with no change since): true;
 * - it did not (an INSERT of its key, or absent now with no change since): it went while not tracked, unseen, so
 *   false after the last period ended, and NULL (unknown) within them;
 * - the evidence does not tell (a TRUNCATE came first): NULL from the first period on.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._history_gap_existence(gaps jsonb, at timestamptz, last_id bigint, evidence_id bigint,
  evidence boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE
    WHEN count(*) = 0 OR evidence IS TRUE OR at < min(g.start_at) THEN true
    WHEN evidence IS FALSE AND bool_and(g.end_at IS NOT NULL) AND at >= max(g.end_at) THEN false
  END
  FROM jsonb_to_recordset(gaps) AS g(start_id bigint, start_at timestamptz, end_at timestamptz)
  WHERE g.start_id >= last_id AND g.start_id < coalesce(evidence_id, 9223372036854775807)
$$;

-- One row's existence at `at` (see _history_gap_existence) when its state says it existed as last recorded (last
-- change `last_id`): the evidence is read from the key's next change, the table's next TRUNCATE, a key change that
-- moved the row away (recorded under its new key) and the live table, only when an untracked period began since.
CREATE FUNCTION :AUDITRUM_SCHEMA._history_row_existence(t :AUDITRUM_SCHEMA.tracked_tables, key text, at timestamptz,
  last_id bigint, gaps jsonb) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  key_names text[];
  next_change record;
  truncated bigint;
  evidence boolean;
  evidence_id bigint;
  moved_at bigint;
BEGIN
  IF last_id IS NULL OR NOT EXISTS (
    SELECT FROM jsonb_to_recordset(gaps) AS g(start_id bigint) WHERE g.start_id >= last_id)
  THEN
    RETURN true;
  END IF;
  key_names := :AUDITRUM_SCHEMA._history_key_names(t);
  SELECT ch.id, ch.operation = 'INSERT' OR (ch.operation = 'UPDATE' AND coalesce(ch.old_values ?| key_names, false))
      AS entry
  INTO next_change
  FROM :AUDITRUM_SCHEMA.changes ch WHERE ch.table_id = t.id AND ch.row_key = key AND ch.id > last_id
  ORDER BY ch.id LIMIT 1;
  SELECT min(ch.id) INTO truncated FROM :AUDITRUM_SCHEMA.changes ch
  WHERE ch.table_id = t.id AND ch.row_key IS NULL AND ch.operation = 'TRUNCATE' AND ch.id > last_id;
  IF truncated < coalesce(next_change.id, 9223372036854775807) THEN
    evidence_id := truncated;
  ELSIF next_change.id IS NOT NULL THEN
    evidence_id := next_change.id;
    evidence := NOT next_change.entry;
  ELSE
    EXECUTE format('SELECT EXISTS (%s)', :AUDITRUM_SCHEMA._history_live_sql(t, true))
    INTO evidence USING NULL::integer, NULL::timestamptz, NULL::bigint, ARRAY[key];
  END IF;
  -- Absent later: a key change may have moved it to another key first, which proves it existed then.
  IF evidence IS FALSE THEN
    SELECT min((m->>'id')::bigint) INTO moved_at
    FROM jsonb_array_elements(:AUDITRUM_SCHEMA._history_moves_away(t, key, key_names, last_id,
      coalesce(evidence_id, 9223372036854775807))) m;
    IF moved_at IS NOT NULL THEN
      evidence_id := moved_at;
      evidence := true;
    END IF;
  END IF;
  RETURN :AUDITRUM_SCHEMA._history_gap_existence(gaps, at, last_id, evidence_id, evidence);
END;
$$;

-- The query that rebuilds rows at a position (see version 10), each row with its existence: for the whole table,
-- rows of unknown existence are listed too (exists NULL), those that did not exist left out.
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
  gaps jsonb := :AUDITRUM_SCHEMA._history_gaps(t.id);
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
      SELECT s.row_key, CASE WHEN s.rebuilt_from = 'none' THEN false ELSE %21$s END AS "exists",
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
      FROM si AS s CROSS JOIN tr
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
    SELECT st.row_key, st."exists",
      CASE WHEN f.clean THEN f.v ELSE %1$s._history_known(f.v, %2$L::text[]) END AS "values",
      CASE WHEN f.clean THEN '[]'::jsonb ELSE %1$s._history_unknown(f.v, st.missing, %2$L::text[]) END AS unknown,
      st.last_change_id, st.last_changed_at, st.rebuilt_from
    FROM states st
    CROSS JOIN LATERAL (SELECT st."values" AS v, NOT st.dirty AND st."values" ?& %2$L::text[] AS clean OFFSET 0) f
    WHERE st."exists" IS NOT FALSE$f$,
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
    key_values, f.past_filter,
    -- The whole table: a row as last recorded whose existence an untracked period since may have ended unseen (see
    -- _history_gap_existence); its next recorded change (or TRUNCATE) or, with none, the live table tells what
    -- followed. One key: _history_states decides it, from the key's own changes.
    CASE WHEN keys IS NULL AND gaps <> '[]' THEN format($e$%1$s._history_gap_existence(%2$L::jsonb, $2, s.last_le,
        least(s.first_gt, tr.tr_gt), CASE WHEN tr.tr_gt < coalesce(s.first_gt, 9223372036854775807) THEN NULL
          WHEN s.first_gt IS NULL THEN s.tid IS NOT NULL ELSE s.first_gt IS DISTINCT FROM s.in_gt END)$e$, audit, gaps)
      ELSE 'true' END) ORDER BY f.n)
  INTO variants
  FROM (VALUES (1, ''), (2, ' AND c.changed_at <= $2 AND c.id < $3')) AS f(n, past_filter)
  WHERE f.n = 1 OR keys IS NOT NULL;
  query := variants[1];
  past_query := variants[2];
  table_id := t.id;
END;
$$;


-- The rows rebuilt by _history_plan's query (not finished: values with markers, missing reasons), for one key or
-- every key; what row_as_of and the restore functions read. One key's `exists` is NULL when it may have gone unseen
-- while the table was not tracked (see _history_row_existence).
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
  -- A row as last recorded may have gone unseen while the table was not tracked since.
  IF found_row AND "exists" THEN
    "exists" := :AUDITRUM_SCHEMA._history_row_existence(t, row_key, at, last_change_id,
      :AUDITRUM_SCHEMA._history_gaps(t.id));
  END IF;
  IF found_row THEN
    RETURN NEXT;
  END IF;
END;
$$;

/**
 * The row of tracked table `target` with key `key` (a value, an array in key order, or an object by column name:
 * see row_key) as it was at `at`: every change with changed_at <= at is in the past. One row: `exists` (NULL when
 * it is not known: the row may have gone unseen while the table was not tracked; see _history_gap_existence);
 * `values`, its known values under today's column names; `unknown`, [{column, reason}] for today's columns whose
 * value then is not known (reasons: excluded, masked, oversized, added_later, untracked_gap, before_tracking,
 * not_recorded); the last change of the row at or before `at`; `rebuilt_from`: forward (from an INSERT), backward
 * (from a later DELETE or the live row: the row existed before tracking), live (unchanged since), none (it did not
 * exist).
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA.row_as_of(target regclass, key jsonb, at timestamptz)
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
  -- A row of unknown existence is given with what is known of it, as a row that existed.
  RETURN QUERY
  SELECT rk, CASE WHEN s.row_key IS NULL THEN false ELSE s."exists" END,
    CASE WHEN s."exists" IS NOT FALSE AND s.row_key IS NOT NULL
      THEN :AUDITRUM_SCHEMA._history_known(s."values", today) ELSE '{}'::jsonb END,
    CASE WHEN s."exists" IS NOT FALSE AND s.row_key IS NOT NULL
      THEN :AUDITRUM_SCHEMA._history_unknown(s."values", s.missing, today) ELSE '[]'::jsonb END,
    s.last_change_id, s.last_changed_at, CASE WHEN s."exists" IS FALSE THEN 'none' ELSE coalesce(s.rebuilt_from, 'none') END
  FROM (SELECT 1) one
  LEFT JOIN :AUDITRUM_SCHEMA._history_states(target, at, 9223372036854775807, ARRAY[rk], false) s ON true;
END;
$$;

DROP FUNCTION :AUDITRUM_SCHEMA.table_as_of(regclass, timestamptz);

/**
 * Every row of tracked table `target` that existed at `at`, or may have (`exists` NULL: see row_as_of), as
 * row_as_of returns them, in no particular order. Set-based over the table's log and live rows; stream it with COPY
 * or a cursor.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.table_as_of(target regclass, at timestamptz)
RETURNS TABLE (row_key text, "exists" boolean, "values" jsonb, unknown jsonb, last_change_id bigint,
  last_changed_at timestamptz, rebuilt_from text)
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

DROP FUNCTION :AUDITRUM_SCHEMA.table_as_of_page(regclass, timestamptz, text, text, integer);

/**
 * Up to `page_size` rows of tracked table `target` that existed at `at`, or may have (`exists` NULL: see
 * row_as_of), as table_as_of returns them, in the order of the table's key (its columns' types, as its primary key
 * sorts them), after the row whose row_key is `after_key` (NULL: from the first), and with `key_contains` only
 * those whose row_key contains that text. See version 11 for how the page's rows are found.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.table_as_of_page(target regclass, at timestamptz, after_key text, key_contains text,
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
  settings_before text[];
  gone text[];
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


-- A table's registry row is its relation's: the names of tables no longer tracked (dropped, or dropped and made
-- again) may repeat.
DO $$
DECLARE
  unique_name name;
BEGIN
  -- The UNIQUE (schema_name, table_name) of version 1, found by its columns rather than its generated name.
  SELECT con.conname INTO unique_name FROM pg_constraint con
  WHERE con.conrelid = format('%I.tracked_tables', :'AUDITRUM_SCHEMA')::regclass AND con.contype = 'u'
    AND (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num) = ARRAY['schema_name', 'table_name'];
  EXECUTE format('ALTER TABLE %I.tracked_tables DROP CONSTRAINT %I', :'AUDITRUM_SCHEMA', unique_name);
END;
$$;
CREATE UNIQUE INDEX tracked_tables_name_idx ON :AUDITRUM_SCHEMA.tracked_tables (schema_name, table_name)
  WHERE untracked_at IS NULL;

/**
 * Starts (or updates) auditing of a table. Rules: only, exclude (column lists, not both), mask (column list),
 * mask_mode ('hash' or 'marker'), key (column list; default the primary key), when (SQL boolean over NEW and OLD),
 * max_value_bytes (values larger than this are recorded as a marker with their size and SHA-256; default 1 MiB).
 * Idempotent: the same rules again change nothing. Returns {table_id, action, ddl}. A table is known by its
 * relation, not its name: a table made under the name of a dropped (or renamed) one gets a registry row, and so a
 * history, of its own.
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA.track(target regclass, rules jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  unknown text;
  rel_schema text;
  rel_name text;
  rel_kind "char";
  key_nums smallint[];
  only_nums smallint[];
  exclude_nums smallint[];
  mask_nums smallint[];
  mode text := coalesce(rules->>'mask_mode', 'hash');
  condition text := nullif(rules->>'when', '');
  max_bytes integer;
  existing :AUDITRUM_SCHEMA.tracked_tables;
  stale :AUDITRUM_SCHEMA.tracked_tables;
  saved_id integer;
  ddl text;
BEGIN
  IF rules IS NULL OR jsonb_typeof(rules) <> 'object' THEN
    RAISE EXCEPTION 'auditrum: rules for table % must be a JSON object', target USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT string_agg(format('"%s"', k), ', ') INTO unknown FROM jsonb_object_keys(rules) k
  WHERE k NOT IN ('only', 'exclude', 'mask', 'mask_mode', 'key', 'when', 'max_value_bytes');
  IF unknown IS NOT NULL THEN
    RAISE EXCEPTION 'auditrum: unknown rule % for table % (known: only, exclude, mask, mask_mode, key, when, max_value_bytes)', unknown, target
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT n.nspname, c.relname, c.relkind INTO rel_schema, rel_name, rel_kind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target;
  IF rel_kind NOT IN ('r', 'p') THEN
    RAISE EXCEPTION 'auditrum: % is not a table', target USING ERRCODE = 'wrong_object_type';
  END IF;
  IF rel_schema = :'AUDITRUM_SCHEMA' THEN
    RAISE EXCEPTION 'auditrum: % belongs to Auditrum itself and cannot be tracked', target USING ERRCODE = 'wrong_object_type';
  END IF;
  IF jsonb_typeof(rules->'only') = 'array' AND jsonb_typeof(rules->'exclude') = 'array' THEN
    RAISE EXCEPTION 'auditrum: give "only" or "exclude" for table %, not both', target USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF mode NOT IN ('hash', 'marker') THEN
    RAISE EXCEPTION 'auditrum: mask_mode for table % must be "hash" or "marker", not "%"', target, mode
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  max_bytes := :AUDITRUM_SCHEMA._max_value_bytes(target, rules->'max_value_bytes');
  only_nums := :AUDITRUM_SCHEMA._attnums(target, rules->'only', 'only');
  exclude_nums := coalesce(:AUDITRUM_SCHEMA._attnums(target, rules->'exclude', 'exclude'), '{}');
  mask_nums := coalesce(:AUDITRUM_SCHEMA._attnums(target, rules->'mask', 'mask'), '{}');
  key_nums := :AUDITRUM_SCHEMA._attnums(target, rules->'key', 'key');
  IF key_nums IS NULL THEN
    SELECT array_agg(k.attnum ORDER BY k.ord) INTO key_nums
    FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    WHERE i.indrelid = target AND i.indisprimary;
  END IF;
  IF key_nums IS NULL OR cardinality(key_nums) = 0 THEN
    RAISE EXCEPTION 'auditrum: table % has no primary key; give its key columns (rule "key")', target
      USING ERRCODE = 'invalid_table_definition';
  END IF;
  IF key_nums && mask_nums THEN
    RAISE EXCEPTION 'auditrum: key columns of table % cannot be masked', target USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM :AUDITRUM_SCHEMA._check_when(target, condition);

  -- The registry row of this very relation, tracked now or before: a table of the same name that was dropped (or
  -- renamed away) is another table, whose history must not become this one's past. A row whose relation was
  -- recorded dropped is never this relation's, even if PostgreSQL gave the same oid to a new table since.
  SELECT * INTO existing FROM :AUDITRUM_SCHEMA.tracked_tables tt
  WHERE tt.relid = target AND (tt.untracked_at IS NULL OR NOT EXISTS (
    SELECT FROM :AUDITRUM_SCHEMA.changes c WHERE c.table_id = tt.id AND c.row_key IS NULL AND c.operation = 'DDL'
      AND c.new_values->>'event' = 'table_dropped'))
  ORDER BY tt.untracked_at NULLS FIRST, tt.id DESC LIMIT 1;
  -- A registry row still tracked under this name for another relation: that table was renamed, or dropped while
  -- the drop was not followed (no event triggers). It keeps its history under its own id: renamed, it is given
  -- its name now; gone, its end is recorded as a drop and it is no longer tracked.
  FOR stale IN
    SELECT tt.* FROM :AUDITRUM_SCHEMA.tracked_tables tt
    WHERE tt.schema_name = rel_schema AND tt.table_name = rel_name AND tt.untracked_at IS NULL AND tt.relid <> target
  LOOP
    UPDATE :AUDITRUM_SCHEMA.tracked_tables tt SET schema_name = n.nspname, table_name = c.relname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE tt.id = stale.id AND c.oid = stale.relid;
    IF NOT FOUND THEN
      PERFORM :AUDITRUM_SCHEMA._record_capture_ddl(stale.id, 'table_dropped',
        format('DROP TABLE %I.%I;', stale.schema_name, stale.table_name), NULL);
      UPDATE :AUDITRUM_SCHEMA.tracked_tables SET untracked_at = now(), function_checksum = '' WHERE id = stale.id;
    END IF;
  END LOOP;
  IF existing.id IS NULL THEN
    INSERT INTO :AUDITRUM_SCHEMA.tracked_tables (relid, schema_name, table_name, key_attnums, only_attnums,
      exclude_attnums, mask_attnums, mask_mode, when_condition, max_value_bytes, rules, function_checksum)
    VALUES (target, rel_schema, rel_name, key_nums, only_nums, exclude_nums, mask_nums, mode, condition, max_bytes, '{}', '')
    RETURNING id INTO saved_id;
  ELSE
    saved_id := existing.id;
    UPDATE :AUDITRUM_SCHEMA.tracked_tables SET relid = target, schema_name = rel_schema, table_name = rel_name,
      key_attnums = key_nums, only_attnums = only_nums, exclude_attnums = exclude_nums, mask_attnums = mask_nums,
      mask_mode = mode, when_condition = condition, max_value_bytes = max_bytes, untracked_at = NULL
    WHERE id = saved_id;
  END IF;
  UPDATE :AUDITRUM_SCHEMA.tracked_tables t SET rules = :AUDITRUM_SCHEMA._rules_json(t) WHERE id = saved_id;
  ddl := :AUDITRUM_SCHEMA._install(saved_id);
  RETURN jsonb_build_object('table_id', saved_id,
    'action', CASE WHEN existing.id IS NULL OR existing.untracked_at IS NOT NULL THEN 'tracked'
                   WHEN ddl = '' THEN 'unchanged' ELSE 'updated' END,
    'ddl', ddl);
END;
$$;
