-- Auditrum schema, version 23: a whole table as of a time rebuilt backwards with less CPU per change (issue 12's
-- stream target).
--
-- Version 17's backward rebuild took each key's last change up to the time as the largest [id, µs] array of its
-- changes: an array built and compared per change, 0.45 s of the server's CPU for the million changes of
-- bench:history. The array is now built only for the changes that are not INSERTs; a key's INSERTs give their
-- largest id and time, and the log is read for the time only where a key inserted more than once ends with an
-- INSERT. The live table's key is spelled once per row (the planner spelled it again for each join). Replaced:
-- _history_table_backward_sql (same rows).
--
-- The live table is scanned and each row made JSON by parallel workers: the query could not run in parallel at all
-- (_history_row_finished and _history_merge were parallel unsafe, the default), and the planner, which does not
-- count the cost of to_json, judged the workers not worth their tuples. The reading process's own CPU for a million
-- rows fell by a fifth (the workers take what it gave up, the total is the same), so the stream is no longer bound
-- by one process's CPU. _history_row_finished is marked parallel restricted (it runs in the reading process only),
-- _history_merge parallel safe (jsonb_concat is); _history_table_sql sets parallel_tuple_cost for the backward
-- rebuild as it sets its other settings, and table_as_of puts it back. Replaced: _history_merge, _history_table_sql,
-- table_as_of.

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
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._history_table_backward_sql(target regclass, at timestamptz) RETURNS text
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
    -- Per key changed up to the time: its last change (id and time), whether an INSERT or a key change brought a
    -- row in, oversized values. The last change's time comes from an array of [id, µs] taken only over the changes
    -- that are not INSERTs (an array per change cost 0.45 s of CPU a million changes); a key's INSERTs give their
    -- largest id and time, which belong together when it has one INSERT, and the log is read for the one INSERT
    -- that is the last change of a key inserted more than once.
    le AS (
      SELECT x.row_key,
        CASE WHEN x.ins_id IS NULL OR x.upd[1] > x.ins_id THEN x.upd[1] ELSE x.ins_id END AS last_id,
        CASE WHEN x.ins_id IS NULL OR x.upd[1] > x.ins_id THEN %7$s
          WHEN x.ins_n = 1 THEN x.ins_at
          ELSE (SELECT c.changed_at FROM %1$s.changes c WHERE c.table_id = %2$s AND c.row_key = x.row_key AND c.id = x.ins_id)
        END AS last_at,
        x.ins_n > 0 OR coalesce(x.moved_in, false) AS entered, x.oversized
      FROM (
        SELECT c.row_key,
          max(ARRAY[c.id, (extract(epoch FROM c.changed_at) * 1000000)::bigint]) FILTER (WHERE c.operation <> 'INSERT')
            AS upd,
          max(c.id) FILTER (WHERE c.operation = 'INSERT') AS ins_id,
          max(c.changed_at) FILTER (WHERE c.operation = 'INSERT') AS ins_at,
          count(*) FILTER (WHERE c.operation = 'INSERT') AS ins_n,
          bool_or(c.old_values ?| %4$L::text[]) FILTER (WHERE c.operation = 'UPDATE') AS moved_in,
          bool_or(%10$s) AS oversized
        FROM %1$s.changes c
        WHERE c.table_id = %2$s AND c.row_key IS NOT NULL AND c.changed_at <= %3$L::timestamptz
        GROUP BY c.row_key
      ) x
    ),
    rows AS (
      -- Live rows, each joined to its key's changes after and up to the time (two left joins: the planner hashes the
      -- smaller side of each, where a full join of the two summaries hashed both and scanned one for the unmatched).
      -- OFFSET 0: a key handed to the one-row query is rebuilt once, not once per column; and the live row's key is
      -- spelled once per row, where the planner, pulling the scan up, spelled it again for each join's hash and probe
      -- (0.25 s of CPU a million rows).
      SELECT live.row_key, live.j, le.last_id, le.last_at, le.entered, back.deleted, back.old, back.inserted, x.odd,
        CASE WHEN x.odd THEN %1$s._history_row_finished(%5$L::oid::regclass, %3$L::timestamptz, live.row_key) END AS one
      FROM (%6$s OFFSET 0) live
      LEFT JOIN back ON back.row_key = live.row_key
      LEFT JOIN le ON le.row_key = live.row_key
      CROSS JOIN LATERAL (SELECT coalesce(le.oversized OR back.oversized OR le.last_id > back.first_id, le.oversized,
        back.oversized) AS odd) x
      WHERE x.odd OR back.inserted IS NOT TRUE
      OFFSET 0
    )
    SELECT r.row_key, coalesce((r.one)."exists", true) AS "exists",
      CASE WHEN r.odd THEN (r.one)."values"::json WHEN r.old IS NULL THEN r.j WHEN r.deleted THEN r.old::json
        ELSE (r.j::jsonb || r.old)::json END AS "values",
      CASE WHEN r.odd THEN (r.one).unknown ELSE '[]'::jsonb END AS unknown,
      CASE WHEN r.odd THEN (r.one).last_change_id ELSE r.last_id END AS last_change_id,
      CASE WHEN r.odd THEN (r.one).last_changed_at ELSE r.last_at END AS last_changed_at,
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
  $q$, audit, t.id, at, key_names, target::oid, live_sql, replace(last_at, '«last»', 'x.upd'),
    replace(last_at, '«last»', 'p.last'), live_one, :AUDITRUM_SCHEMA._history_backward_handover(t));
END;
$$;


-- A key handed to the one-row query is rebuilt by the reading process, never by a parallel worker.
ALTER FUNCTION :AUDITRUM_SCHEMA._history_row_finished(regclass, timestamptz, text) PARALLEL RESTRICTED;
CREATE OR REPLACE AGGREGATE :AUDITRUM_SCHEMA._history_merge(jsonb) (SFUNC = jsonb_concat, STYPE = jsonb, PARALLEL = SAFE);

/**
 * table_as_of's query as one statement, its values spelled in as literals, for a reader that streams it with
 * `COPY (…) TO STDOUT` (COPY takes no parameters) without the result set that a function returning rows keeps
 * whole. The backward rebuild when it applies, else the general query. It also sets, for the rest of the caller's
 * transaction, what the query needs: work_mem of at least 64 MB (its joins hash a row per key: at the default 4 MB
 * they spill to disk), and for the backward rebuild no merge join and no hashed grouping (the planner, misjudging
 * the keys per change, sorts a million live rows to disk for a merge join, or hashes 900,000 groups past work_mem,
 * where a hash join reading the log in its row index's order keeps to memory), no JIT (compiling it cost 0.8 of
 * 6.1 s of CPU for a million rows on PostgreSQL 15, and won nothing back), and a parallel_tuple_cost of 0.001 (the
 * planner does not count to_json's cost: at the default 0.1 it keeps the live table's scan in one process, where
 * workers take a fifth of the reading process's CPU; a table under min_parallel_table_scan_size stays in one). Read
 * it and run it in one REPEATABLE READ transaction, so that both see the same log.
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
      set_config('jit', 'off', true), set_config('parallel_tuple_cost', '0.001', true);
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
  settings constant text[] := ARRAY['work_mem', 'enable_mergejoin', 'enable_hashagg', 'jit', 'parallel_tuple_cost'];
  before text[] := ARRAY(SELECT current_setting(s) FROM unnest(settings) s);
BEGIN
  RETURN QUERY EXECUTE format('SELECT s.row_key, s."exists", s."values"::jsonb, s.unknown, s.last_change_id, '
    's.last_changed_at, s.rebuilt_from FROM (%s) s', :AUDITRUM_SCHEMA._history_table_sql(target, at));
  PERFORM set_config(s.name, s.value, true) FROM unnest(settings, before) AS s(name, value);
END;
$$;
