-- Auditrum schema, version 17: a whole table as of a time rebuilt backwards from the live table. When every change
-- after the time is recorded with the values it replaced (tracked all along under today's column names and types,
-- no rule that leaves values out, no TRUNCATE or key change after the time), a row's state then is its live row
-- with each column set back to the old value of the first later change that wrote it (or the image a later DELETE
-- recorded), so the query reads the live table once and merges only the changes after the time; the changes up to
-- it are read once per key for the row's last change and whether it was inserted while tracked, never merged.
-- A key whose changes hold oversized values, or whose change ids and times disagree around the time, is rebuilt by
-- history's one-row query; any other history by the general query (version 16), as before. _history_table_sql and
-- table_as_of choose; their signatures and rows are those of version 16 (a timestamptz, interval or money value is
-- spelled as the reader's session spells it, as a live row's always was). Added: _history_table_backward_sql,
-- _history_table_general_sql (version 7's _history_table_sql), _history_row_finished and its row type,
-- _history_backward_handover.

-- One row as of a time, finished as row_as_of finishes it (known values, unknown ones, existence), for a key the
-- backward rebuild hands back to history's one-row query.
CREATE TYPE :AUDITRUM_SCHEMA._history_row_state AS ("exists" boolean, "values" jsonb, unknown jsonb,
  last_change_id bigint, last_changed_at timestamptz, rebuilt_from text);

CREATE FUNCTION :AUDITRUM_SCHEMA._history_row_finished(target regclass, at timestamptz, key text)
RETURNS :AUDITRUM_SCHEMA._history_row_state
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN s.row_key IS NULL THEN false ELSE s."exists" END,
    CASE WHEN s."exists" IS NOT FALSE AND s.row_key IS NOT NULL
      THEN :AUDITRUM_SCHEMA._history_known(s."values", c.today) ELSE '{}'::jsonb END,
    CASE WHEN s."exists" IS NOT FALSE AND s.row_key IS NOT NULL
      THEN :AUDITRUM_SCHEMA._history_unknown(s."values", s.missing, c.today) ELSE '[]'::jsonb END,
    s.last_change_id, s.last_changed_at,
    CASE WHEN s."exists" IS FALSE THEN 'none' ELSE coalesce(s.rebuilt_from, 'none') END
  FROM (SELECT :AUDITRUM_SCHEMA._history_columns(:AUDITRUM_SCHEMA._history_table(target)) AS today) c
  LEFT JOIN :AUDITRUM_SCHEMA._history_states(target, at, 9223372036854775807, ARRAY[key], false) s ON true
$$;

-- Which of a table's changes hand their key to history's one-row query, as a condition on a change `c` in the
-- backward rebuild's statement: one holding oversized values (recorded as markers). Later versions add to it.
CREATE FUNCTION :AUDITRUM_SCHEMA._history_backward_handover(t :AUDITRUM_SCHEMA.tracked_tables) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT $c$(coalesce(c.new_values ? '', false) OR coalesce(c.old_values ? '', false))$c$
$$;

/**
 * table_as_of's query rebuilt backwards from the live table, as one statement with its values spelled in as
 * literals (columns row_key, exists, values as json, unknown, last_change_id, last_changed_at, rebuilt_from); NULL
 * when the table's history does not allow it (then _history_table_general_sql answers). It applies when:
 * - the table is tracked now, was at `at` and all along since (every recorded state tracking, with no column added,
 *   excluded or included again: no markers), with no WHEN condition, no excluded, masked or only-listed columns;
 * - every recorded state captured today's columns under today's names and types (no rename, drop or retype);
 * - no column's values can be objects (json) or are rendered by their type's output function (user-defined types);
 * - no TRUNCATE of the table and no key change after `at` (a row then left its key without a DELETE under it).
 * A row that existed at `at` is then a live row, or a row a DELETE after `at` removed (that DELETE recorded its
 * image). Its values: the image (live or deleted) with each column set back to the old value of the first change
 * after `at` that wrote it; the key's first change after `at` an INSERT: it did not exist then. From the changes up
 * to `at`: its last change (last_change_id, last_changed_at) and whether an INSERT or a key change brought it in
 * (rebuilt_from forward) — the general query's answers for a log whose live table is what the changes left. A key
 * whose changes hold oversized values (recorded as markers) or whose last change up to `at` has a higher id than its
 * first after it (ids and statement times disagree: a statement that waited for a row lock) is rebuilt by history's
 * one-row query instead.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._history_table_backward_sql(target regclass, at timestamptz) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t :AUDITRUM_SCHEMA.tracked_tables := :AUDITRUM_SCHEMA._history_table(target);
  audit text := quote_ident(:'AUDITRUM_SCHEMA');
  key_names text[] := :AUDITRUM_SCHEMA._history_key_names(t);
  live_sql text;
  live_one text;
  last_at text := $e$(timestamptz 'epoch' + «last»[2] * interval '1 microsecond')$e$;
BEGIN
  IF at IS NULL OR NOT isfinite(at) THEN
    RAISE EXCEPTION 'auditrum: give a finite time to read table % as of, not %', target, coalesce(at::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF t.untracked_at IS NOT NULL OR NOT (t.tracked_at <= at) OR t.when_condition IS NOT NULL
    OR t.only_attnums IS NOT NULL OR cardinality(t.exclude_attnums) > 0 OR cardinality(t.mask_attnums) > 0
    -- Values that need more than to_json of the live row: objects that could look like markers, user-defined types.
    OR EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
      AND (:AUDITRUM_SCHEMA._rendered_value_sql(a.atttypid) IS NOT NULL OR :AUDITRUM_SCHEMA._history_holds_objects(a.atttypid)))
    -- Every state tracking, nothing unknown from it on, and its captured columns today's, same name and type.
    OR EXISTS (SELECT FROM :AUDITRUM_SCHEMA._history_versions(t) v
      WHERE NOT v.tracking OR v.markers <> '{}' OR v.missing <> '{}')
    OR EXISTS (SELECT FROM :AUDITRUM_SCHEMA.table_versions tv
      CROSS JOIN LATERAL jsonb_to_recordset(tv.columns) AS col(attnum smallint, name text, type text, captured boolean,
        masked boolean)
      LEFT JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum = col.attnum AND NOT a.attisdropped
      WHERE tv.table_id = t.id AND col.captured
        AND (col.masked OR a.attname IS DISTINCT FROM col.name OR format_type(a.atttypid, a.atttypmod) IS DISTINCT FROM col.type))
    OR EXISTS (SELECT FROM :AUDITRUM_SCHEMA.changes c
      WHERE c.table_id = t.id AND c.row_key IS NULL AND c.operation = 'TRUNCATE' AND NOT (c.changed_at <= at))
    OR (cardinality(key_names) > 0 AND EXISTS (SELECT FROM :AUDITRUM_SCHEMA.changes c
      WHERE c.table_id = t.id AND c.row_key IS NOT NULL AND NOT (c.changed_at <= at) AND c.operation = 'UPDATE'
        AND c.old_values ?| key_names))
  THEN
    RETURN NULL;
  END IF;
  live_sql := replace(:AUDITRUM_SCHEMA._history_live_sql(t, false), 'live.ctid AS tid', 'to_json(live.*) AS j');
  live_one := replace(:AUDITRUM_SCHEMA._history_live_sql(t, true), '$4[1]', 'back.row_key');
  RETURN format($q$
    WITH gt AS (
      SELECT c.row_key, c.id, c.operation, c.old_values,
        %10$s AS oversized,
        min(c.id) FILTER (WHERE c.operation <> 'UPDATE') OVER (PARTITION BY c.row_key) AS bound
      FROM %1$s.changes c
      WHERE c.table_id = %2$s AND c.row_key IS NOT NULL AND NOT (c.changed_at <= %3$L::timestamptz)
    ),
    -- Per key changed after the time: its first full image after it (an INSERT: the row did not exist then; a
    -- DELETE: its image), and the old values up to that image merged newest first (the first change wins).
    back AS (
      SELECT gt.row_key, min(gt.id) AS first_id, bool_or(gt.oversized) AS oversized,
        coalesce(bool_or(gt.id = gt.bound AND gt.operation = 'INSERT'), false) AS inserted,
        coalesce(bool_or(gt.id = gt.bound AND gt.operation = 'DELETE'), false) AS deleted,
        %1$s._history_merge(gt.old_values ORDER BY gt.id DESC) FILTER (WHERE gt.bound IS NULL OR gt.id <= gt.bound) AS old
      FROM gt GROUP BY gt.row_key
    ),
    -- Per key changed up to the time: its last change (id and time, the time as microseconds beside the id so that
    -- one max gives both), whether an INSERT or a key change brought a row in, oversized values.
    le AS (
      SELECT c.row_key, max(ARRAY[c.id, (extract(epoch FROM c.changed_at) * 1000000)::bigint]) AS last,
        bool_or(c.operation = 'INSERT' OR (c.operation = 'UPDATE' AND c.old_values ?| %4$L::text[])) AS entered,
        bool_or(%10$s) AS oversized
      FROM %1$s.changes c
      WHERE c.table_id = %2$s AND c.row_key IS NOT NULL AND c.changed_at <= %3$L::timestamptz
      GROUP BY c.row_key
    ),
    rows AS (
      -- Live rows, each joined to its key's changes after and up to the time (two left joins: the planner hashes the
      -- smaller side of each, where a full join of the two summaries hashed both and scanned one for the unmatched).
      -- OFFSET 0: a key handed to the one-row query is rebuilt once, not once per column.
      SELECT live.row_key, live.j, le.last, le.entered, back.deleted, back.old, back.inserted, x.odd,
        CASE WHEN x.odd THEN %1$s._history_row_finished(%5$L::oid::regclass, %3$L::timestamptz, live.row_key) END AS one
      FROM (%6$s) live
      LEFT JOIN back ON back.row_key = live.row_key
      LEFT JOIN le ON le.row_key = live.row_key
      CROSS JOIN LATERAL (SELECT coalesce(le.oversized OR back.oversized OR le.last[1] > back.first_id, le.oversized,
        back.oversized) AS odd) x
      WHERE x.odd OR back.inserted IS NOT TRUE
      OFFSET 0
    )
    SELECT r.row_key, coalesce((r.one)."exists", true) AS "exists",
      CASE WHEN r.odd THEN (r.one)."values"::json WHEN r.old IS NULL THEN r.j WHEN r.deleted THEN r.old::json
        ELSE (r.j::jsonb || r.old)::json END AS "values",
      CASE WHEN r.odd THEN (r.one).unknown ELSE '[]'::jsonb END AS unknown,
      CASE WHEN r.odd THEN (r.one).last_change_id ELSE r.last[1] END AS last_change_id,
      CASE WHEN r.odd THEN (r.one).last_changed_at ELSE %7$s END AS last_changed_at,
      CASE WHEN r.odd THEN (r.one).rebuilt_from WHEN r.entered THEN 'forward' WHEN r.old IS NOT NULL THEN 'backward'
        ELSE 'live' END AS rebuilt_from
    FROM rows r
    WHERE NOT r.odd OR (r.one)."exists" IS NOT FALSE
    UNION ALL
    -- Rows gone since: deleted after the time and not live today (no TRUNCATE or key change after it).
    SELECT back.row_key, coalesce((one)."exists", true),
      CASE WHEN d.odd THEN (one)."values"::json ELSE back.old::json END,
      CASE WHEN d.odd THEN (one).unknown ELSE '[]'::jsonb END,
      CASE WHEN d.odd THEN (one).last_change_id ELSE p.last[1] END,
      CASE WHEN d.odd THEN (one).last_changed_at ELSE %8$s END,
      CASE WHEN d.odd THEN (one).rebuilt_from WHEN p.entered THEN 'forward' ELSE 'backward' END
    FROM back
    CROSS JOIN LATERAL (
      SELECT max(ARRAY[c.id, (extract(epoch FROM c.changed_at) * 1000000)::bigint]) AS last,
        bool_or(c.operation = 'INSERT' OR (c.operation = 'UPDATE' AND c.old_values ?| %4$L::text[])) AS entered,
        bool_or(%10$s) AS oversized
      FROM %1$s.changes c
      WHERE c.table_id = %2$s AND c.row_key = back.row_key AND c.changed_at <= %3$L::timestamptz
    ) p
    CROSS JOIN LATERAL (SELECT back.oversized OR coalesce(p.oversized, false) OR p.last[1] > back.first_id AS odd) d
    CROSS JOIN LATERAL (SELECT CASE WHEN d.odd
      THEN %1$s._history_row_finished(%5$L::oid::regclass, %3$L::timestamptz, back.row_key) END AS one OFFSET 0) o
    WHERE back.deleted AND NOT EXISTS (%9$s) AND (NOT d.odd OR (one)."exists" IS NOT FALSE)
  $q$, audit, t.id, at, key_names, target::oid, live_sql, replace(last_at, '«last»', 'r.last'),
    replace(last_at, '«last»', 'p.last'), live_one, :AUDITRUM_SCHEMA._history_backward_handover(t));
END;
$$;

-- History's general query for the whole table as one statement with literals (version 7's _history_table_sql,
-- unchanged): the backward rebuild's fallback, and what the tests compare it with.
CREATE FUNCTION :AUDITRUM_SCHEMA._history_table_general_sql(target regclass, at timestamptz) RETURNS text
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

/**
 * table_as_of's query as one statement, its values spelled in as literals, for a reader that streams it with
 * `COPY (…) TO STDOUT` (COPY takes no parameters) without the result set that a function returning rows keeps
 * whole. The backward rebuild when it applies, else the general query. It also sets, for the rest of the caller's
 * transaction, what the query needs: work_mem of at least 64 MB (its joins hash a row per key: at the default 4 MB
 * they spill to disk), and for the backward rebuild no merge join and no hashed grouping (the planner, misjudging
 * the keys per change, sorts a million live rows to disk for a merge join, or hashes 900,000 groups past work_mem,
 * where a hash join reading the log in its row index's order keeps to memory) and no JIT (compiling it cost 0.8 of
 * 6.1 s of CPU for a million rows on PostgreSQL 15, and won nothing back). Read it and run it in one REPEATABLE
 * READ transaction, so that both see the same log.
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._history_table_sql(target regclass, at timestamptz) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  statement text := :AUDITRUM_SCHEMA._history_table_backward_sql(target, at);
BEGIN
  IF pg_size_bytes(current_setting('work_mem')) < 64 * 1024 * 1024 THEN
    PERFORM set_config('work_mem', '64MB', true);
  END IF;
  IF statement IS NOT NULL THEN
    PERFORM set_config('enable_mergejoin', 'off', true), set_config('enable_hashagg', 'off', true),
      set_config('jit', 'off', true);
    RETURN statement;
  END IF;
  RETURN :AUDITRUM_SCHEMA._history_table_general_sql(target, at);
END;
$$;

/**
 * Every row of tracked table `target` that existed at `at`, or may have (`exists` NULL: see row_as_of), as
 * row_as_of returns them, in no particular order: _history_table_sql's query (backward from the live table when it
 * applies), its settings for this query only, then as they were. Stream it with COPY or a cursor.
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA.table_as_of(target regclass, at timestamptz)
RETURNS TABLE (row_key text, "exists" boolean, "values" jsonb, unknown jsonb, last_change_id bigint,
  last_changed_at timestamptz, rebuilt_from text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  settings constant text[] := ARRAY['work_mem', 'enable_mergejoin', 'enable_hashagg', 'jit'];
  before text[] := ARRAY(SELECT current_setting(s) FROM unnest(settings) s);
BEGIN
  RETURN QUERY EXECUTE format('SELECT s.row_key, s."exists", s."values"::jsonb, s.unknown, s.last_change_id, '
    's.last_changed_at, s.rebuilt_from FROM (%s) s', :AUDITRUM_SCHEMA._history_table_sql(target, at));
  PERFORM set_config(s.name, s.value, true) FROM unnest(settings, before) AS s(name, value);
END;
$$;
