-- Auditrum schema, version 25: a row first recorded after an untracked period may not have existed before it.
--
-- A row with no recorded change at or before a time (one from before tracking, or one inserted while the table was
-- not tracked, whose INSERT was never recorded) is rebuilt backwards from what the log records of it later, and was
-- read as existing at that time. If the table was not tracked for a while between the time and the first thing
-- recorded of the row, the row may have been inserted then, unseen: whether it existed at the time is not known
-- (NULL), as version 16 says of a row that may have been deleted unseen. With tracking on all along from the time to
-- the row's first recorded change (or to now, for a row recorded by nothing but the live table), an INSERT would
-- have been recorded: it existed. Replaced: _history_gap_existence (the whole table's query and the one-row path
-- both decide with it) and _history_row_existence.

/**
 * Whether a row that existed as last recorded (its last change at or before `at`, id `last_id`, an INSERT or UPDATE;
 * NULL: no change at or before `at`, the row rebuilt backwards from later) existed at `at`, given the table's
 * untracked periods (`gaps`, see _history_gaps) and what followed: `evidence`, whether the row existed just before
 * `evidence_id` (its next recorded change, or a TRUNCATE; NULL id: now), NULL when that does not tell (a TRUNCATE came
 * first). Only the periods that began after its last change and before that evidence count:
 * - none, or `at` before the first of them (tracking was on, a DELETE would have been recorded): true;
 * - the row existed after them (an UPDATE or DELETE of it, or live now with no change since): true;
 * - it did not (an INSERT of its key, or absent now with no change since): it went while not tracked, unseen, so
 *   false after the last period ended, and NULL (unknown) within them;
 * - the evidence does not tell (a TRUNCATE came first): NULL from the first period on.
 * With no change at or before `at`, the periods that had not ended by `at` and began before that evidence count: with
 * none, tracking was on from `at` until the row was first recorded, so it existed (its INSERT would have been
 * recorded); with one, it may have been inserted then (NULL), `at` before or within it; after a TRUNCATE, NULL.
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._history_gap_existence(gaps jsonb, at timestamptz, last_id bigint,
  evidence_id bigint, evidence boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE
    WHEN last_id IS NULL THEN CASE
      WHEN evidence_id IS NOT NULL AND evidence IS NULL THEN NULL
      WHEN count(*) FILTER (WHERE g.end_at IS NULL OR g.end_at > at) = 0 THEN true
    END
    WHEN count(*) = 0 OR evidence IS TRUE OR at < min(g.start_at) THEN true
    WHEN evidence IS FALSE AND bool_and(g.end_at IS NOT NULL) AND at >= max(g.end_at) THEN false
  END
  FROM jsonb_to_recordset(gaps) AS g(start_id bigint, start_at timestamptz, end_at timestamptz)
  WHERE g.start_id >= coalesce(last_id, 0) AND g.start_id < coalesce(evidence_id, 9223372036854775807)
$$;

-- One row's existence at `at` (see _history_gap_existence) when its state says it existed as last recorded (last
-- change `last_id`, NULL when none at or before `at`): the evidence is read from the key's next change, the table's
-- next TRUNCATE, a key change that moved the row away (recorded under its new key) and the live table, only when an
-- untracked period began since (or, with no change at or before `at`, had not ended by then).
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
    WHERE ch.table_id = t.id AND ch.row_key = key AND NOT (ch.changed_at <= at);
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
