-- Auditrum schema, version 42: a field's history in pages.
--
-- field_history() answered every recorded value of the field: for a row changed 200,000 times, 0.72 s of server CPU
-- in the function and 3.4–5.2 s for the admin's `api/field-history` (every entry's actor label and JSON). It now
-- takes the bound of a page: the values recorded at or before `until` (what the TypeScript `at` filtered after the
-- call), below the change `before_id`, the newest `max_entries` of them (each key of the row's lineage walked down its
-- ids on the row index and stopped once that many are found). Without them it answers as before.
-- Replaced: field_history (version 21's), with three optional arguments more (the three-argument form is dropped:
-- calls with three arguments reach the new one); _history_row_checkpoints (version 40's), which now asks
-- _checkpoints_current() only of a reader that may run it (after harden(), the application role) and otherwise gives
-- no kept state, as for a reader that may not read them. Renamed: version 40's _history_checkpoints_current() to
-- _checkpoints_current(): no function of history runs with its owner's rights (it tells only whether an erasure or a
-- purge came since the states were made, never a row).

DROP FUNCTION :AUDITRUM_SCHEMA.field_history(regclass, jsonb, text);

/**
 * Every recorded value of one column (today's name `field`) of the row with key `key`, oldest first: the INSERT's
 * value, each UPDATE that changed it, a DELETE (value NULL, the value it removed as old_value). A row whose key
 * changed keeps its history from before, under the old key (row_key says which). `unknown_reason` is set when the
 * value after the change is not known (masked, oversized; excluded or added_later for an INSERT that did not
 * record it). `reason` is the reason the change carried. With `until`, only the values recorded at or before it;
 * with `before_id`, only those of changes below it; with `max_entries`, only the newest that many of those.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.field_history(target regclass, key jsonb, field text, until timestamptz DEFAULT NULL,
  before_id bigint DEFAULT NULL, max_entries integer DEFAULT NULL)
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
  erased_ids bigint[] := :AUDITRUM_SCHEMA._history_erased_ids(t.id);
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
  -- Each key's newest `max_entries` entries below `before_id` (recorded at or before `until`), its changes walked down
  -- the row index and the walk stopped once they are found, then the newest `max_entries` of them all, oldest first:
  -- a page of a row changed very many times reads about a page of its changes, not all of them.
  RETURN QUERY
  SELECT p.* FROM (
    SELECT k.* FROM jsonb_to_recordset(lineage) AS l(key text, "from" bigint, "to" bigint)
    CROSS JOIN LATERAL (
      SELECT c.id AS change_id, c.changed_at, c.operation, c.row_key,
        CASE WHEN c.operation = 'DELETE' OR n.marker = 'unknown' THEN NULL WHEN n.marker = 'value' THEN n.v->'value'
          ELSE n.v END AS value,
        CASE WHEN o.marker = 'unknown' THEN NULL WHEN o.marker = 'value' THEN o.v->'value' ELSE o.v END AS old_value,
        CASE
          WHEN c.operation = 'DELETE' THEN NULL
          WHEN n.v IS NULL THEN coalesce(missings[b.v]->>field, 'not_recorded')
          WHEN n.marker = 'unknown' THEN n.v->>'reason'
        END AS unknown_reason,
        c.actor_id, c.request_id, c.context->>'reason' AS reason
      FROM :AUDITRUM_SCHEMA.changes c
      CROSS JOIN LATERAL (SELECT width_bucket(c.id, thresholds) AS v) b
      -- A change an erasure touched: its erased columns listed, read as unknown (reason erased) by the remap.
      CROSS JOIN LATERAL (SELECT e.nv, e.ov FROM (SELECT c.new_values AS nv, c.old_values AS ov) e
        WHERE NOT c.id = ANY (erased_ids)
        UNION ALL
        SELECT :AUDITRUM_SCHEMA._history_erasures_listed(c.new_values, c.id),
          :AUDITRUM_SCHEMA._history_erasures_listed(c.old_values, c.id)
        WHERE c.id = ANY (erased_ids)) r
      CROSS JOIN LATERAL (SELECT x.v, CASE WHEN jsonb_typeof(x.v) = 'object' THEN x.v->>'$auditrum' END AS marker
        FROM (SELECT CASE
          WHEN plains[b.v] AND NOT r.nv ? '' AND NOT jsonb_path_exists(r.nv, '$.*."$auditrum"')
            THEN r.nv->field
          ELSE :AUDITRUM_SCHEMA._history_remap(r.nv, remaps[b.v])->field END AS v) x) n
      CROSS JOIN LATERAL (SELECT x.v, CASE WHEN jsonb_typeof(x.v) = 'object' THEN x.v->>'$auditrum' END AS marker
        FROM (SELECT CASE
          WHEN plains[b.v] AND NOT r.ov ? '' AND NOT jsonb_path_exists(r.ov, '$.*."$auditrum"')
            THEN r.ov->field
          ELSE :AUDITRUM_SCHEMA._history_remap(r.ov, remaps[b.v])->field END AS v) x) o
      -- The bound below `before_id` in the index condition: the walk starts there.
      WHERE c.table_id = t.id AND c.row_key = l.key AND c.id >= l."from"
        AND c.id < least(l."to", coalesce(before_id, upper_id)) AND (until IS NULL OR c.changed_at <= until)
        AND (c.operation IN ('INSERT', 'DELETE') OR n.v IS NOT NULL)
      ORDER BY c.id DESC LIMIT max_entries) k
    ORDER BY k.change_id DESC LIMIT max_entries) p
  ORDER BY p.change_id;
END;
$$;

ALTER FUNCTION :AUDITRUM_SCHEMA._history_checkpoints_current() RENAME TO _checkpoints_current;

/**
 * A row's kept states, oldest first, for a reader that may read them (none otherwise, or when they are not the
 * log's): the change each follows, its versions, and the latest time among them in microseconds since 1970.
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._history_row_checkpoints(table_id integer, row_key text)
RETURNS TABLE (change_id bigint, versions bigint, latest_micros bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT has_table_privilege(format('%I.history_checkpoints', :'AUDITRUM_SCHEMA'), 'SELECT')
     OR NOT has_function_privilege(format('%I._checkpoints_current()', :'AUDITRUM_SCHEMA'), 'EXECUTE')
     OR NOT :AUDITRUM_SCHEMA._checkpoints_current() THEN
    RETURN;
  END IF;
  RETURN QUERY SELECT h.change_id, h.versions,
      (extract(epoch FROM h.latest_at) * 1000000)::bigint
    FROM :AUDITRUM_SCHEMA.history_checkpoints h
    WHERE h.table_id = _history_row_checkpoints.table_id AND h.row_key = _history_row_checkpoints.row_key
    ORDER BY h.change_id;
END;
$$;
