-- Auditrum schema, version 44: a row or a table as of a time never takes the versions that hold an erasure's key
-- pseudonym (`erased:<erasure id>`, version 35) for a real row of the same key text.
--
-- erase() of a row whose key columns it erases gives every version of the row the key `erased:<erasure id>`, and a
-- real row of the same table may have that key (a key is any text its column holds). Version 35 taught erase() and the
-- history readers (row history, blame, field history, the admin's key filter) to tell them apart by the erasure's own
-- records (_key_pseudonym_erasure: the versions in its erased_changes whose key is its pseudonym); the row and the
-- table as of a time (row_as_of, table_as_of, table_as_of_page, the streamed table and its export) still read a key by
-- its text and folded both rows' versions into one. They now leave those versions out: the key's text is the real
-- row's, and the erased row, whose key the erasure took, is no row of a table as of a time (its versions are listed by
-- the admin's `erasure` filter, its erasure's changes). A role that may not read the erasures' records reads the key
-- by its text as before (as version 35's readers). A table with no erased key costs one lookup of erasures (none:
-- erased_changes is read only for the key erasures there are), and one key not of that form nothing.
-- New: _history_pseudonym_ids. Replaced: _history_plan and _history_states (version 21's), _history_row_existence
-- (version 25's), _history_table_sql (version 23's: a table with such versions is read by the general query).

/**
 * The change ids of table `table_id` that hold an erasure's key pseudonym: the versions an erasure of a row's key
 * (_key_pseudonym_erasure: its subject's key is the marker) recorded in erased_changes whose key is `erased:<its id>`.
 * With `keys`, only those of these keys (none when no key reads `erased:<n>`: no query). Empty for a role that may not
 * read the erasures' records (it reads keys by their text, as before version 44).
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._history_pseudonym_ids(table_id integer, keys text[]) RETURNS bigint[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  ids bigint[];
  erasure_ids bigint[];
BEGIN
  IF keys IS NOT NULL AND NOT EXISTS (SELECT FROM unnest(keys) k WHERE k ~ '^erased:[1-9][0-9]{0,18}$') THEN
    RETURN '{}';
  END IF;
  IF NOT (has_table_privilege(format('%I.erased_changes', :'AUDITRUM_SCHEMA'), 'SELECT')
    AND has_table_privilege(format('%I.erasures', :'AUDITRUM_SCHEMA'), 'SELECT'))
  THEN
    RETURN '{}';
  END IF;
  -- The key erasures' changes first, then which of them are the table's and hold the pseudonym, found by their ids
  -- through the log's primary key (OFFSET 0, as _history_erased_ids: a join could be answered by reading the whole
  -- log, the planner not knowing that erased_changes is small, usually empty).
  SELECT array_agg(e.change_id), array_agg(e.erasure_id) INTO ids, erasure_ids
  FROM :AUDITRUM_SCHEMA.erasures x JOIN :AUDITRUM_SCHEMA.erased_changes e ON e.erasure_id = x.id
  WHERE x.subject ? 'table' AND x.subject->'key' = to_jsonb('[erased]'::text);
  IF ids IS NULL THEN
    RETURN '{}';
  END IF;
  SELECT coalesce(array_agg(c.id), '{}') INTO ids
  FROM (SELECT c.id, c.table_id, c.row_key FROM :AUDITRUM_SCHEMA.changes c WHERE c.id = ANY (ids) OFFSET 0) c
  JOIN unnest(ids, erasure_ids) AS k(change_id, erasure_id) ON k.change_id = c.id
  WHERE c.table_id = _history_pseudonym_ids.table_id AND c.row_key = 'erased:' || k.erasure_id
    AND (keys IS NULL OR c.row_key = ANY (keys));
  RETURN ids;
END;
$$;

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
  erased_ids bigint[] := :AUDITRUM_SCHEMA._history_erased_ids(t.id);
  -- All of the table's: a page's query is built once, with a placeholder key, and run for each of its keys.
  pseudonym_ids bigint[] := :AUDITRUM_SCHEMA._history_pseudonym_ids(t.id, NULL);
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
        %22$s, c.changed_at <= $2 AND c.id < $3 AS le
      FROM %1$s.changes c
      WHERE c.table_id = $1 AND c.row_key IS NOT NULL %2$s%20$s%23$s
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
      ELSE 'true' END,
    -- The values of the changes an erasure touched with their erased columns listed (ids only: the text is
    -- rewritten by the readers that spell its parameters in, which a column name could trip).
    CASE WHEN cardinality(erased_ids) = 0 THEN 'c.old_values, c.new_values'
      ELSE format('CASE WHEN c.id = ANY (%1$L::bigint[]) THEN %2$s._history_erasures_listed(c.old_values, c.id) '
        'ELSE c.old_values END AS old_values, CASE WHEN c.id = ANY (%1$L::bigint[]) '
        'THEN %2$s._history_erasures_listed(c.new_values, c.id) ELSE c.new_values END AS new_values', erased_ids, audit)
    END,
    -- The versions that hold an erasure's key pseudonym are no row's (_history_pseudonym_ids).
    CASE WHEN cardinality(pseudonym_ids) = 0 THEN ''
      ELSE format(' AND NOT (c.id = ANY (%L::bigint[]))', pseudonym_ids) END) ORDER BY f.n)
  INTO variants
  FROM (VALUES (1, ''), (2, ' AND c.changed_at <= $2 AND c.id < $3')) AS f(n, past_filter)
  WHERE f.n = 1 OR keys IS NOT NULL;
  query := variants[1];
  past_query := variants[2];
  table_id := t.id;
END;
$$;

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
  erased_ids bigint[];
  pseudonym_ids bigint[] := :AUDITRUM_SCHEMA._history_pseudonym_ids(t.id, keys);
BEGIN
  -- One key, read forwards: a row whose key's first change, in the past, brought it in (else, as for a row from
  -- before tracking, a forward rebuild is unlikely) is rebuilt from the few changes that decide it (see
  -- _history_forward_ids) by a statement whose plan the session keeps, when every recorded state of the table is
  -- plain (stored names are today's) and that image is an INSERT with no TRUNCATE after it: the same row the
  -- query of _history_plan gives, without building, planning or reading through the other versions.
  -- (Not for a key some versions of which hold an erasure's key pseudonym: _history_plan leaves those out.)
  IF keys IS NOT NULL AND NOT backward_only AND cardinality(pseudonym_ids) = 0 THEN
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
      erased_ids := :AUDITRUM_SCHEMA._history_erased_ids(t.id);
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
            WHEN NOT rec.nv ? '' AND NOT jsonb_path_exists(rec.nv, '$.*."$auditrum"') THEN rec.nv
            ELSE :AUDITRUM_SCHEMA._history_remap(rec.nv, st.remaps[width_bucket(ch.id, st.thresholds)]) END AS v
        FROM :AUDITRUM_SCHEMA.changes ch
        CROSS JOIN LATERAL (SELECT CASE WHEN ch.id = ANY (erased_ids)
          THEN :AUDITRUM_SCHEMA._history_erasures_listed(ch.new_values, ch.id) ELSE ch.new_values END AS nv) rec
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
        WHERE ch.table_id = p.table_id AND ch.row_key = keys[1] AND NOT (ch.id = ANY (pseudonym_ids))
          AND NOT (ch.changed_at <= at AND ch.id < before_id)
          AND (ch.operation = 'INSERT' OR (ch.operation = 'UPDATE' AND ch.old_values ?| p.key_names));
        SELECT max(ch.id) INTO before_entry FROM :AUDITRUM_SCHEMA.changes ch
        WHERE ch.table_id = p.table_id AND ch.row_key = keys[1] AND NOT (ch.id = ANY (pseudonym_ids))
          AND ch.id < coalesce(entry_after, 9223372036854775807);
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

CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._history_row_existence(t :AUDITRUM_SCHEMA.tracked_tables, key text,
  at timestamptz, last_id bigint, gaps jsonb) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  key_names text[];
  next_change record;
  truncated bigint;
  evidence boolean;
  evidence_id bigint;
  moved_at bigint;
  pseudonym_ids bigint[] := :AUDITRUM_SCHEMA._history_pseudonym_ids(t.id, ARRAY[key]);
BEGIN
  IF last_id IS NULL THEN
    IF NOT EXISTS (
      SELECT FROM jsonb_to_recordset(gaps) AS g(end_at timestamptz) WHERE g.end_at IS NULL OR g.end_at > at)
    THEN
      RETURN true;
    END IF;
    -- The first thing recorded of the row after `at`, as the whole table's query reads it: its first change, or a
    -- TRUNCATE before that.
    SELECT min(ch.id) INTO evidence_id FROM :AUDITRUM_SCHEMA.changes ch
    WHERE ch.table_id = t.id AND ch.row_key = key AND NOT (ch.id = ANY (pseudonym_ids)) AND NOT (ch.changed_at <= at);
    SELECT min(ch.id) INTO truncated FROM :AUDITRUM_SCHEMA.changes ch
    WHERE ch.table_id = t.id AND ch.row_key IS NULL AND ch.operation = 'TRUNCATE' AND NOT (ch.changed_at <= at);
    IF truncated < coalesce(evidence_id, 9223372036854775807) THEN
      RETURN :AUDITRUM_SCHEMA._history_gap_existence(gaps, at, NULL, truncated, NULL);
    END IF;
    RETURN :AUDITRUM_SCHEMA._history_gap_existence(gaps, at, NULL, evidence_id, true);
  END IF;
  IF NOT EXISTS (SELECT FROM jsonb_to_recordset(gaps) AS g(start_id bigint) WHERE g.start_id >= last_id) THEN
    RETURN true;
  END IF;
  key_names := :AUDITRUM_SCHEMA._history_key_names(t);
  SELECT ch.id, ch.operation = 'INSERT' OR (ch.operation = 'UPDATE' AND coalesce(ch.old_values ?| key_names, false))
      AS entry
  INTO next_change
  FROM :AUDITRUM_SCHEMA.changes ch
  WHERE ch.table_id = t.id AND ch.row_key = key AND NOT (ch.id = ANY (pseudonym_ids)) AND ch.id > last_id
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

CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._history_table_sql(target regclass, at timestamptz) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  statement text;
BEGIN
  -- The backward query reads every key by its text: not for a table some versions of which hold an erasure's key
  -- pseudonym (the general query leaves them out).
  IF cardinality(:AUDITRUM_SCHEMA._history_pseudonym_ids((:AUDITRUM_SCHEMA._history_table(target)).id, NULL)) = 0 THEN
    statement := :AUDITRUM_SCHEMA._history_table_backward_sql(target, at);
  END IF;
  IF pg_size_bytes(current_setting('work_mem')) < 64 * 1024 * 1024 THEN
    PERFORM set_config('work_mem', '64MB', true);
  END IF;
  IF statement IS NOT NULL THEN
    PERFORM set_config('enable_mergejoin', 'off', true), set_config('enable_hashagg', 'off', true),
      set_config('jit', 'off', true), set_config('parallel_tuple_cost', '0.001', true);
    RETURN statement;
  END IF;
  RETURN :AUDITRUM_SCHEMA._history_table_general_sql(target, at);
END;
$$;
