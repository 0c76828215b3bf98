-- Auditrum schema, version 30: a table as of a time before a TRUNCATE or a gap in tracking reads the log's keys from
-- the admin's summary; gone keys that today's key type cannot hold are listed, after the others.
--
-- table_as_of_page (version 28's) took every key of the table's log as a candidate when the log after the time does
-- not say which rows left (a TRUNCATE after it, a gap in tracking after or at it, a time before tracking began): it read
-- every change of the table twice (its key changes and DELETEs of all time, then array_agg(DISTINCT row_key)) and
-- sorted the keys in the key's type at every batch: 9.2–9.9 s of server CPU for a first page of the 10,000,000-change
-- benchmark's orders (4,000,000 changes, 50,000 keys) two months back. Now:
-- - A time before tracking began, with no TRUNCATE or gap after it, is no such case: every change of the log is after
--   the time, so a key the log holds is a row today or left after the time, by a DELETE or a key change (the
--   departures, read as for any time), unless a TRUNCATE or a gap removed it unseen.
-- - The key changes and DELETEs after the time are read as for any time (the departures index, the admin's summary of
--   departures, the log after the time): a rebuild needs the key changes after the time only.
-- - The log's keys come from the admin's summary (`log_keys`, the type table_keys: read once per mount by table_keys,
--   extended by the ids written since, as the summary of departures is) when it still holds (table_departures_state),
--   with the keys of the ids above it; the log is read as before when it is not given. With the summary, after a
--   TRUNCATE at or before the time, on a table never left untracked, only the keys entered (an INSERT, a key change)
--   after that TRUNCATE (in id order, as history orders them) and at or before the time are candidates: a row of that
--   time entered since.
-- - A key recorded under an earlier type of the table's key that today's type cannot hold (`a` once the key became an
--   int) failed the page (invalid input syntax: the gone keys were sorted as today's type): such keys are set apart
--   when the first sort fails and listed after every other key, in text order ("C"); a cursor that is such a key
--   (one the log holds) goes on among them. Replaced: table_as_of_page (dropped and created again: it takes
--   `log_keys`), table_as_of_bound (such a cursor has no live key after it).

/**
 * Whether a page of tracked table `t` as of `at` takes every key of the table's log as a candidate: the log after
 * `at` does not say which rows left since, when a TRUNCATE after it removed rows without naming them, or tracking was
 * interrupted after it or at it (rows may have gone unseen). Before tracking began, every change is after `at`: a key
 * the log holds is a row today or left by a DELETE or key change after `at`, unless one of those removed it.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._table_as_of_every_key(t :AUDITRUM_SCHEMA.tracked_tables, at timestamptz)
RETURNS boolean
-- (PL/pgSQL: its plans are kept for the session, where an SQL function's are made at every page.)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN EXISTS (SELECT FROM :AUDITRUM_SCHEMA.changes c
      WHERE c.table_id = t.id AND c.row_key IS NULL AND c.operation = 'TRUNCATE' AND c.changed_at > at)
    OR EXISTS (SELECT FROM :AUDITRUM_SCHEMA._history_versions(t) v WHERE v.recorded_at > at
      AND jsonb_path_exists(v.markers, '$.*.reason ? (@ == "untracked_gap")'))
    -- Within an untracked period a row last recorded may have gone unseen: listed, of unknown existence.
    OR EXISTS (SELECT FROM jsonb_to_recordset(:AUDITRUM_SCHEMA._history_gaps(t.id)) AS g(start_at timestamptz,
      end_at timestamptz) WHERE g.start_at <= at AND (g.end_at IS NULL OR g.end_at > at));
END;
$$;

/**
 * Whether a page of tracked table `target` as of `at` (table_as_of_page) takes every key of the table's log as a
 * candidate, and so takes the admin's summary of them (`log_keys`).
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.table_as_of_reads_log_keys(target regclass, at timestamptz) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT :AUDITRUM_SCHEMA._table_as_of_every_key(:AUDITRUM_SCHEMA._history_table(target), at)
$$;

/**
 * The keys of a tracked table's log as the admin summarizes them for table_as_of_page, up to id `up_to`, read under
 * table_departures_state's `state`: `keys`, every distinct row_key of its changes, in no order; `moves`, its key
 * changes as [{id, changed_at, old_key}] in id order (table_departures' since '-infinity'); `entered_keys`,
 * `entered_ids` and `entered_times`, the keys its rows entered (an INSERT's, a key change's new key), the changes' ids
 * and when (microseconds since 1970).
 */
CREATE TYPE :AUDITRUM_SCHEMA.table_keys AS (up_to bigint, state text, keys text[], moves jsonb, entered_keys text[],
  entered_ids bigint[], entered_times bigint[]);

/**
 * The keys of tracked table `target`'s changes with an id above `after_id` and up to `up_to_id`: each distinct key once
 * with `entered_id` and `entered_at` NULL, and each entry of a row into a key (an INSERT, a key change's new key) with
 * its change's id and changed_at in microseconds since 1970.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.table_keys(target regclass, after_id bigint, up_to_id bigint)
RETURNS TABLE (row_key text, entered_id bigint, entered_at bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t :AUDITRUM_SCHEMA.tracked_tables := :AUDITRUM_SCHEMA._history_table(target);
BEGIN
  -- The ids as literals: a few ids above a summary are read through the primary key, the whole log through the row
  -- index.
  RETURN QUERY EXECUTE format($s$
    SELECT DISTINCT c.row_key, NULL::bigint, NULL::bigint FROM %1$s.changes c
    WHERE c.table_id = %2$s AND c.row_key IS NOT NULL AND c.id > %3$s AND c.id <= %4$s
    UNION ALL
    SELECT c.row_key, c.id, (extract(epoch FROM c.changed_at) * 1000000)::bigint FROM %1$s.changes c
    WHERE c.table_id = %2$s AND c.id > %3$s AND c.id <= %4$s
      AND (c.operation = 'INSERT' OR (c.operation = 'UPDATE' AND c.old_values ?| $1))$s$,
    quote_ident(:'AUDITRUM_SCHEMA'), t.id, coalesce(after_id, 0), coalesce(up_to_id, 0))
  USING :AUDITRUM_SCHEMA._history_key_names(t);
END;
$$;

/**
 * Keys of tracked table `target` split into those that read back as its key's types today (`typed`, see _table_key_sql)
 * and those recorded under an earlier type that today's cannot hold: each half is cast in one statement, halved again
 * when it fails (a few such keys among many cost a few dozen statements).
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._table_keys_split(typed text, keys text[], OUT typed_keys text[],
  OUT untyped_keys text[])
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  half integer := cardinality(keys) / 2;
  a record;
  b record;
BEGIN
  BEGIN
    EXECUTE format('SELECT count(%s) FROM unnest($1::text[]) AS g(k)', replace(typed, '«k»', 'g.k')) USING keys;
    typed_keys := keys;
    untyped_keys := '{}';
    RETURN;
  EXCEPTION WHEN data_exception THEN
    IF cardinality(keys) = 1 THEN
      typed_keys := '{}';
      untyped_keys := keys;
      RETURN;
    END IF;
  END;
  a := :AUDITRUM_SCHEMA._table_keys_split(typed, keys[1:half]);
  b := :AUDITRUM_SCHEMA._table_keys_split(typed, keys[half + 1:]);
  typed_keys := a.typed_keys || b.typed_keys;
  untyped_keys := a.untyped_keys || b.untyped_keys;
END;
$$;

/**
 * Whether `key` (a `what`: cursor) of tracked table `t` (`target`) reads back as its key's types today (`typed`):
 * true (and for NULL); false when it does not but the table's log holds it (a key recorded under an earlier type of
 * the key: those come after every other key); refused when it is neither.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._table_key_typed(target regclass, t :AUDITRUM_SCHEMA.tracked_tables, typed text,
  what text, key text) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF key IS NOT NULL THEN
    EXECUTE format('SELECT %s', replace(typed, '«k»', '$1')) USING key;
  END IF;
  RETURN true;
EXCEPTION WHEN data_exception THEN
  IF EXISTS (SELECT FROM :AUDITRUM_SCHEMA.changes c WHERE c.table_id = t.id AND c.row_key = key) THEN
    RETURN false;
  END IF;
  RAISE EXCEPTION 'auditrum: the % % is not a row key of table %', what, key, target
    USING ERRCODE = 'invalid_parameter_value';
END;
$$;

/**
 * The row_key of the `keys_read`-th row of tracked table `target` today after the one whose row_key is `after_key`
 * (NULL: from the first), in the order of its key; NULL when fewer rows follow, or when `after_key` is a key the log
 * holds that today's key type cannot (no live key comes after it). A page of the table as of a time that searches its
 * keys (table_as_of_page's `key_contains`) reads the keys up to it, no more (its `until_key`).
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA.table_as_of_bound(target regclass, after_key text, keys_read integer)
RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t :AUDITRUM_SCHEMA.tracked_tables := :AUDITRUM_SCHEMA._history_table(target);
  k record;
  bound text;
BEGIN
  SELECT * INTO k FROM :AUDITRUM_SCHEMA._table_key_sql(t);
  IF keys_read IS NULL OR keys_read < 1 THEN
    RAISE EXCEPTION 'auditrum: a search of table % reads at least 1 key, not %', target, coalesce(keys_read::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT :AUDITRUM_SCHEMA._table_key_typed(target, t, k.typed, 'cursor', after_key) THEN
    RETURN NULL;
  END IF;
  EXECUTE format('SELECT %1$s FROM %2$I.%3$I AS live WHERE $1::text IS NULL OR (%4$s) > %5$s ORDER BY %4$s
      OFFSET $2 - 1 LIMIT 1', k.live_key, t.schema_name, t.table_name, k.live_columns, replace(k.typed, '«k»', '$1'))
    INTO bound USING after_key, keys_read;
  RETURN bound;
END;
$$;

DROP FUNCTION :AUDITRUM_SCHEMA.table_as_of_page(regclass, timestamptz, text, text, integer, text,
  :AUDITRUM_SCHEMA.table_departures);

/**
 * Up to `page_size` rows of tracked table `target` that existed at `at`, or may have (`exists` NULL: see
 * row_as_of), as table_as_of returns them, in the order of the table's key (its columns' types, as its primary key
 * sorts them; keys the log holds that today's key type cannot hold after all others, in text order), after the row
 * whose row_key is `after_key` (NULL: from the first), and with `key_contains` only those whose row_key contains that
 * text; with `until_key`, only the keys up to that one (table_as_of_bound gives it: a search by `key_contains` reads a
 * bounded part of the live table per page). See version 11 for how the page's rows are found; the rows gone since
 * `at` are read from the departures index in the months that have it (version 22), and from `departures` (the admin's
 * summary of the other months, version 28) up to its last id when it is given, still holds and covers the time; the
 * log is read for the rest. When every key of the log is a candidate (_table_as_of_every_key), they are read from
 * `log_keys` (the admin's summary, version 30) and the ids above it when it is given and still holds, else from the
 * log.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.table_as_of_page(target regclass, at timestamptz, after_key text, key_contains text,
  page_size integer, until_key text DEFAULT NULL, departures :AUDITRUM_SCHEMA.table_departures DEFAULT NULL,
  log_keys :AUDITRUM_SCHEMA.table_keys DEFAULT NULL)
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
  rebuild_untyped text;
  everything boolean;
  moves jsonb;
  recent boolean;
  all_key_names text[] := :AUDITRUM_SCHEMA._all_key_names();
  indexed_until timestamptz;
  settings_before text[];
  gone text[];
  -- The gone keys today's key type cannot hold, once a sort of the gone keys found one (NULL: none found).
  untyped text[];
  gone_slice text[];
  gone_full boolean;
  live_keys text[];
  batch_keys text[];
  position_key text := after_key;
  -- Whether the position is among the keys of today's type (else among the others, after them all).
  typed_phase boolean;
  last_typed boolean;
  batch integer := page_size;
  emitted integer := 0;
  r record;
  s record;
  gaps jsonb := :AUDITRUM_SCHEMA._history_gaps(t.id);
  summarized boolean;
  keys_summarized boolean;
  truncated_id bigint;
  since_us bigint;
  state text;
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
  typed_phase := :AUDITRUM_SCHEMA._table_key_typed(target, t, typed, 'cursor', after_key);
  PERFORM :AUDITRUM_SCHEMA._table_key_check(target, typed, 'bound', until_key);
  -- The rows gone since `at`: keys of DELETEs after it, and of key changes after it (the old key, found by the old
  -- values: those changes are recorded under the new key).
  everything := :AUDITRUM_SCHEMA._table_as_of_every_key(t, at);
  -- When the log after `at` does not tell which rows left, every key it holds is a candidate, and every key change
  -- (a key that left by one before `at` is a candidate too): from the admin's summary of them and the ids above it,
  -- when it still holds. After a TRUNCATE at or before `at` (the last one in id order: `truncated_id`), on a table
  -- never left untracked, a row that existed at `at` entered the table after that TRUNCATE (a higher id: a transaction
  -- that began before it writes after it) and at or before `at`, and its entry (an INSERT, or a key change to its key)
  -- was recorded: only the keys entered so are candidates, live ones included.
  IF everything AND log_keys.up_to IS NOT NULL THEN
    state := :AUDITRUM_SCHEMA.table_departures_state(target);
  END IF;
  keys_summarized := coalesce(everything AND log_keys.state = state, false);
  IF keys_summarized THEN
    IF gaps = '[]' THEN
      SELECT max(c.id) INTO truncated_id FROM :AUDITRUM_SCHEMA.changes c
      WHERE c.table_id = t.id AND c.row_key IS NULL AND c.operation = 'TRUNCATE' AND c.changed_at <= at;
    END IF;
    EXECUTE format($s$
      SELECT $3 || coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'changed_at', c.changed_at,
          'old_key', %1$s._history_old_key($1, c.id)) ORDER BY c.id)
          FILTER (WHERE c.operation = 'UPDATE' AND c.old_values ?| $2), '[]'),
        CASE WHEN $5::bigint IS NULL
          THEN $4 || coalesce(array_agg(DISTINCT c.row_key) FILTER (WHERE c.row_key IS NOT NULL), '{}')
          ELSE ARRAY(SELECT e.k FROM unnest($6::text[], $7::bigint[], $9::bigint[]) AS e(k, id, us)
              -- (A microsecond's margin: a candidate more costs its rebuild only.)
              WHERE e.id > $5 AND e.us <= (extract(epoch FROM $8) * 1000000)::bigint + 1)
            || coalesce(array_agg(c.row_key) FILTER (WHERE c.id > $5 AND c.changed_at <= $8
              AND (c.operation = 'INSERT' OR (c.operation = 'UPDATE' AND c.old_values ?| $2))), '{}') END
      FROM %1$s.changes c
      WHERE c.table_id = %2$s AND c.id > %3$s $s$, quote_ident(:'AUDITRUM_SCHEMA'), t.id, log_keys.up_to)
    INTO moves, gone
    USING t, key_names, log_keys.moves, log_keys.keys, truncated_id, log_keys.entered_keys, log_keys.entered_ids, at,
      log_keys.entered_times;
  ELSE
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
    -- The rest (every change of the table when the log after `at` does not tell which rows left) in one pass.
    IF indexed_until IS DISTINCT FROM 'infinity' THEN
      -- The summary's departures after the time (or the indexed months), when it covers them and nothing it rests on
      -- changed since it was read; the query below then reads only the ids above it.
      -- (The admin leaves the times out when the page's time is before every departure: a summary without them that
      -- would need filtering is not used.)
      IF departures.up_to IS NOT NULL AND NOT everything THEN
        state := :AUDITRUM_SCHEMA.table_departures_state(target);
      END IF;
      summarized := NOT everything AND departures.up_to IS NOT NULL AND coalesce(indexed_until, at) >= departures.since
        AND (departures.gone_times IS NOT NULL OR indexed_until = departures.since) AND departures.state = state;
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
  -- naming them; while tracking was interrupted, nothing was recorded), without the admin's summary of them.
  IF everything AND NOT keys_summarized THEN
    SELECT array_agg(DISTINCT c.row_key) INTO gone FROM :AUDITRUM_SCHEMA.changes c
    WHERE c.table_id = t.id AND c.row_key IS NOT NULL;
  END IF;
  -- With the old keys of the key changes, unsorted: each batch selects the few it may need (below).
  gone := gone || ARRAY(SELECT m.old_key FROM jsonb_to_recordset(moves) AS m(old_key text));
  IF NOT typed_phase THEN
    SELECT x.untyped_keys INTO untyped FROM :AUDITRUM_SCHEMA._table_keys_split(typed, gone) x;
  END IF;

  LOOP
    -- For a key today's type cannot hold, the same query without the live table: no live row has it, and it is not
    -- looked up by it (the key read back as today's type fails).
    IF NOT typed_phase AND rebuild_untyped IS NULL THEN
      rebuild_untyped := replace(rebuild, regexp_replace(format('live AS (%s)', :AUDITRUM_SCHEMA._history_live_sql(t,
        true)), '\$4(?![0-9])', '(ARRAY[k.key])', 'g'), 'live AS (SELECT NULL::text AS row_key, NULL::tid AS tid WHERE false)');
    END IF;
    -- (After a TRUNCATE at or before `at`, the keys entered since are every candidate, the live ones too: no live key
    -- is read.)
    IF typed_phase AND truncated_id IS NOT NULL THEN
      live_keys := '{}';
    END IF;
    IF typed_phase AND truncated_id IS NULL THEN
      EXECUTE format($l$SELECT ARRAY(SELECT %1$s FROM %2$I.%3$I AS live
        WHERE ($1::text IS NULL OR (%4$s) > %5$s) AND ($4::text IS NULL OR (%4$s) <= %6$s)
          AND ($2::text IS NULL OR strpos(%1$s, $2) > 0)
        ORDER BY %4$s LIMIT $3)$l$, live_key, t.schema_name, t.table_name, live_columns, replace(typed, '«k»', '$1'),
        replace(typed, '«k»', '$4'))
      INTO live_keys USING position_key, key_contains, batch, until_key;
    END IF;
    IF typed_phase THEN
      -- The gone keys after the position (containing the text, up to the bound) that the batch may need: the first
      -- `batch` in key order, a bounded sort (top-N) at each batch rather than all of them sorted once (26 of a first
      -- page's 50 ms months back at a month's end: 60,000 gone keys; a page takes one batch or two). A key that left
      -- more than once is there as often: when the selection is full, the keys after its last are not known yet, and
      -- the batch ends at that key (the next one goes on from it). The sort casts every key the text filter keeps:
      -- when one is a key of an earlier type that today's cannot hold, they are set apart (once) and it sorts again.
      LOOP
        BEGIN
          EXECUTE format($g$SELECT ARRAY(SELECT g.k FROM unnest($1::text[]) AS g(k)
              WHERE ($2::text IS NULL OR %1$s > %2$s) AND ($3::text IS NULL OR strpos(g.k, $3) > 0)
                AND ($4::text IS NULL OR %1$s <= %3$s) ORDER BY %1$s, g.k LIMIT $5)$g$,
            replace(typed, '«k»', 'g.k'), replace(typed, '«k»', '$2'), replace(typed, '«k»', '$4'))
          INTO gone_slice USING gone, position_key, key_contains, until_key, batch;
          EXIT;
        EXCEPTION WHEN data_exception THEN
          IF untyped IS NOT NULL THEN
            RAISE;
          END IF;
          SELECT x.typed_keys, x.untyped_keys INTO gone, untyped FROM :AUDITRUM_SCHEMA._table_keys_split(typed, gone) x;
        END;
      END LOOP;
      gone_full := cardinality(gone_slice) = batch;
      -- The batch: the first `batch` of the live and gone candidates after the position, in key order, each once (a
      -- key that is a row again today is also a live one), up to the selection's last key when it is full.
      EXECUTE format($m$SELECT ARRAY(SELECT x.k FROM (SELECT unnest($1::text[]) AS k UNION SELECT unnest($2::text[])) x
        WHERE $3::text IS NULL OR (%1$s, x.k) <= (%2$s, $3) ORDER BY %1$s, x.k LIMIT $4)$m$,
        replace(typed, '«k»', 'x.k'), replace(typed, '«k»', '$3'))
      INTO batch_keys USING live_keys, gone_slice, CASE WHEN gone_full THEN gone_slice[batch] END, batch;
      last_typed := cardinality(batch_keys) < batch AND NOT gone_full;
    ELSE
      -- After them, the keys today's type cannot hold (no live key is one), in text order; none past a bound.
      batch_keys := ARRAY(SELECT DISTINCT g.k COLLATE "C" FROM unnest(untyped) AS g(k)
        WHERE (position_key IS NULL OR g.k COLLATE "C" > position_key) AND (key_contains IS NULL OR strpos(g.k, key_contains) > 0)
        ORDER BY 1 LIMIT batch);
    END IF;
    IF cardinality(batch_keys) > 0 THEN
      FOR r IN EXECUTE CASE WHEN typed_phase THEN rebuild ELSE rebuild_untyped END
        USING p.table_id, at, 9223372036854775807::bigint, NULL::text[], false, p.key_names, p.thresholds, p.plains,
          p.remaps, p.missings, p.markers_after, p.moves, p.truncates, target, p.markers, p.live_dirty, batch_keys
      LOOP
        s := r;
        -- A row rebuilt forwards whose key is entered again after `at` left it in between without a DELETE: a key
        -- change before `at` (one after it is among the moves above) may be what ended it; history looks for it (by
        -- today's key type: not for a key it cannot hold).
        IF typed_phase AND r.may_have_moved AND r.rebuilt_from = 'forward' AND r.search_before < 9223372036854775807 THEN
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
    END IF;
    EXIT WHEN emitted = page_size;
    IF typed_phase AND last_typed THEN
      -- The keys of today's type are done: the others follow, unless a bound ends the search among the first.
      EXIT WHEN until_key IS NOT NULL OR coalesce(cardinality(untyped), 0) = 0;
      typed_phase := false;
      position_key := NULL;
    ELSE
      EXIT WHEN NOT typed_phase AND cardinality(batch_keys) < batch;
      position_key := batch_keys[cardinality(batch_keys)];
    END IF;
    batch := least(batch * 2, 1000);
  END LOOP;
END;
$$;
