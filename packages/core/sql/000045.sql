-- Auditrum schema, version 45: one check of whether the kept states of busy rows are the log's, with the reader's
-- rights (version 43's _history_checkpoints_current()).
--
-- Version 42 renamed version 40's SECURITY DEFINER check to _checkpoints_current() and had the row's kept states
-- (_history_row_checkpoints) ask it, while version 43 made _history_checkpoints_current() run with the reader's
-- rights: two checks, the one asked still with its owner's rights. The kept states are now asked of version 43's
-- alone, and _checkpoints_current() is dropped: a reader who may not read the kept states, the erasures or the
-- purges gets none, and its pages fold from the row's first change (the same versions, read more slowly).
-- Replaced: _history_row_checkpoints (version 42's). Dropped: _checkpoints_current (version 42's name of version
-- 40's _history_checkpoints_current).

DROP FUNCTION :AUDITRUM_SCHEMA._checkpoints_current();

/**
 * A row's kept states, oldest first, for a reader that may read them (none otherwise, or when they are not the
 * log's): the change each follows, its versions, and the latest time among them in microseconds since 1970.
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._history_row_checkpoints(table_id integer, row_key text)
RETURNS TABLE (change_id bigint, versions bigint, latest_micros bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT has_table_privilege(format('%I.history_checkpoints', :'AUDITRUM_SCHEMA'), 'SELECT')
     OR NOT :AUDITRUM_SCHEMA._history_checkpoints_current() THEN
    RETURN;
  END IF;
  RETURN QUERY SELECT h.change_id, h.versions,
      (extract(epoch FROM h.latest_at) * 1000000)::bigint
    FROM :AUDITRUM_SCHEMA.history_checkpoints h
    WHERE h.table_id = _history_row_checkpoints.table_id AND h.row_key = _history_row_checkpoints.row_key
    ORDER BY h.change_id;
END;
$$;
