-- Auditrum schema, version 43: whether the kept states of busy rows are the log's (version 40) is asked with the
-- reader's own rights, as every function of the history reads (table_departures_state, version 28).
--
-- Version 40 made _history_checkpoints_current() SECURITY DEFINER, executable by PUBLIC, so that a reader who may not
-- read `erasures` or `purges` still learned whether either had changed: `doctor` reports such a function as a hole in
-- the append-only set-up, and no function of the history reads for the caller what the caller cannot. A reader who
-- may not read the erasures, the purges or the kept states now gets no kept state: the fold starts from the row's
-- first change, as before version 40 (the same versions, read more slowly).
-- Replaced: _history_checkpoints_current (version 40's).

CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._history_checkpoints_current() RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT (has_table_privilege(format('%I.history_checkpoints_kept', :'AUDITRUM_SCHEMA'), 'SELECT')
          AND has_table_privilege(format('%I.erasures', :'AUDITRUM_SCHEMA'), 'SELECT')
          AND has_table_privilege(format('%I.purges', :'AUDITRUM_SCHEMA'), 'SELECT')) THEN
    RETURN false;
  END IF;
  RETURN EXISTS (
    SELECT FROM :AUDITRUM_SCHEMA.history_checkpoints_kept k, :AUDITRUM_SCHEMA._history_log_marks() m
    WHERE k.erasures = m.erasures AND k.purges = m.purges
      AND EXISTS (SELECT FROM :AUDITRUM_SCHEMA.changes c
                  WHERE c.id = k.anchor_id AND c.changed_at = k.anchor_at AND c.txid = k.anchor_txid));
END;
$$;

-- Read with the caller's rights (it reads erasures and purges as the caller may), like the function above.
GRANT EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._history_log_marks() TO PUBLIC;
