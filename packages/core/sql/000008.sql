-- Auditrum schema, version 8: an append-only log for the application role (what `auditrum harden` builds on),
-- capture-trigger repairs and untracking recorded in the log itself, and retention (`auditrum purge`).

-- Partitions are created by the schema's owner whoever asks: the application's partition maintainer runs as the
-- application role, and a partition it created would be its own table, which it could write, alter and drop.
-- What the owner's rights are used for here: creating this month's and the next months' partitions (at most
-- 120) of the two logs, and moving a default partition's rows for such a month into its new partition.
ALTER FUNCTION :AUDITRUM_SCHEMA.ensure_partitions(integer) SECURITY DEFINER;
ALTER FUNCTION :AUDITRUM_SCHEMA.ensure_api_request_partitions(integer) SECURITY DEFINER;

ALTER FUNCTION :AUDITRUM_SCHEMA._ensure_monthly_partitions(text, text, integer) RENAME TO _base_ensure_monthly_partitions;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._base_ensure_monthly_partitions(text, text, integer) FROM PUBLIC;

-- A log partition holds no grants of its own: privileges on the parent decide who reads and writes through it,
-- and grants that its creator's default privileges would give (ALTER DEFAULT PRIVILEGES) would let a role write or
-- read one month directly. The original's REVOKE on the parent alone left each partition's ACL open.
CREATE FUNCTION :AUDITRUM_SCHEMA._ensure_monthly_partitions(parent text, time_column text, months_ahead integer)
RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  created text[] := :AUDITRUM_SCHEMA._base_ensure_monthly_partitions(parent, time_column, months_ahead);
  part text;
  grantee text;
BEGIN
  FOREACH part IN ARRAY created LOOP
    FOR grantee IN
      SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END
      FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
      WHERE c.oid = format('%I.%I', :'AUDITRUM_SCHEMA', part)::regclass AND a.grantee <> c.relowner
    LOOP
      EXECUTE format('REVOKE ALL ON %I.%I FROM %s', :'AUDITRUM_SCHEMA', part, grantee);
    END LOOP;
  END LOOP;
  RETURN created;
END;
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._ensure_monthly_partitions(text, text, integer) FROM PUBLIC;

-- What the capture context of Auditrum's own DDL rows says: the database session that made them.
CREATE FUNCTION :AUDITRUM_SCHEMA._session_context(event text) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT jsonb_build_object('source', 'db', 'db_user', session_user, 'application_name',
    current_setting('application_name'), 'client_addr', inet_client_addr(), 'event', event)
$$;

-- Records in the change log itself a DDL statement that Auditrum ran on a table's capture triggers: operation
-- 'DDL', no row key, new_values {event, ddl} and, for a repair, old_values {problems} (what was wrong: a trigger
-- dropped, disabled or replaced while the guard was absent). History readers skip it (it has no row key and is
-- not a TRUNCATE); the change_log view and the admin show it as operation DDL.
CREATE FUNCTION :AUDITRUM_SCHEMA._record_capture_ddl(table_id integer, event text, ddl text, problems text[])
RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO :AUDITRUM_SCHEMA.changes (table_id, operation, row_key, old_values, new_values, context)
  VALUES (table_id, 'DDL', NULL,
    CASE WHEN problems IS NOT NULL THEN jsonb_build_object('problems', to_jsonb(problems)) END,
    jsonb_build_object('event', event, 'ddl', ddl),
    :AUDITRUM_SCHEMA._session_context(event))
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._record_capture_ddl(integer, text, text, text[]) FROM PUBLIC;

ALTER FUNCTION :AUDITRUM_SCHEMA._install(integer) RENAME TO _base_install;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._base_install(integer) FROM PUBLIC;

-- Installs or repairs a tracked table's capture function and triggers (see _base_install). Two additions: the
-- capture function is executable by its owner alone (a trigger's function is not checked for EXECUTE when it
-- fires, only when the trigger is created, so nobody can attach a capture function to a table of their own and
-- forge change rows under a tracked table's id); and a repair of a table whose triggers were installed before (a
-- trigger or the function missing, a trigger disabled or replaced) is recorded in the log as a DDL row, so that a
-- period when capture had stopped shows in the log itself.
CREATE FUNCTION :AUDITRUM_SCHEMA._install(table_id integer) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t :AUDITRUM_SCHEMA.tracked_tables;
  problems text[];
  ddl text;
  trigger_ddl text;
BEGIN
  SELECT * INTO STRICT t FROM :AUDITRUM_SCHEMA.tracked_tables WHERE id = table_id;
  IF t.function_checksum <> '' THEN
    SELECT array_agg(p.problem ORDER BY p.problem) INTO problems
    FROM :AUDITRUM_SCHEMA._capture_problems(ARRAY[t.relid]) p
    WHERE p.problem LIKE 'function %' OR p.problem LIKE 'trigger %';
  END IF;
  ddl := :AUDITRUM_SCHEMA._base_install(table_id);
  -- CREATE OR REPLACE keeps a function's privileges: revoking once, when it is first created, is enough.
  IF t.function_checksum = '' THEN
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %I.%I() FROM PUBLIC', :'AUDITRUM_SCHEMA', 'capture_' || table_id);
  END IF;
  IF problems IS NOT NULL THEN
    SELECT string_agg(line, E'\n') INTO trigger_ddl
    FROM regexp_split_to_table(ddl, E'\n') line
    WHERE line ~ '^(DROP TRIGGER|CREATE TRIGGER|ALTER TABLE|CREATE OR REPLACE FUNCTION) ';
    PERFORM :AUDITRUM_SCHEMA._record_capture_ddl(table_id, 'capture_repaired', trigger_ddl, problems);
  END IF;
  RETURN ddl;
END;
$$;

ALTER FUNCTION :AUDITRUM_SCHEMA.untrack(regclass) RENAME TO _base_untrack;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._base_untrack(regclass) FROM PUBLIC;

/**
 * Stops auditing a table. Its history stays, under the same table id if it is tracked again. The untracking is
 * recorded in the change log as the table's last change while tracked: a DDL row with the triggers it drops.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.untrack(target regclass) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t_id integer;
  rel text;
  result jsonb;
BEGIN
  SELECT id, format('%I.%I', schema_name, table_name) INTO t_id, rel
  FROM :AUDITRUM_SCHEMA.tracked_tables WHERE relid = target AND untracked_at IS NULL;
  IF t_id IS NOT NULL THEN
    -- The same statements as _base_untrack runs, written before it runs them (its id is then below the
    -- untracked state's in table_versions).
    PERFORM :AUDITRUM_SCHEMA._record_capture_ddl(t_id, 'untracked',
      (SELECT string_agg(format('DROP TRIGGER IF EXISTS %I ON %s;', left(:'AUDITRUM_SCHEMA', 40) || '_capture_' || op, rel), E'\n')
       FROM unnest(ARRAY['insert', 'update', 'delete', 'truncate']) op)
      || format(E'\nDROP FUNCTION IF EXISTS %I.%I();', :'AUDITRUM_SCHEMA', 'capture_' || t_id), NULL);
  END IF;
  result := :AUDITRUM_SCHEMA._base_untrack(target);
  RETURN result;
END;
$$;

-- After a DROP (the guard, see version 5), as before, and a tracked table that is dropped leaves a DDL row.
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._guard_capture_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  capture_triggers text[] := ARRAY(SELECT left(:'AUDITRUM_SCHEMA', 40) || '_capture_' || op
    FROM unnest(ARRAY['insert', 'update', 'delete', 'truncate']) op);
  broken text;
  first_table text;
  gone integer;
  gone_name text;
BEGIN
  -- DROP SCHEMA of Auditrum itself (CASCADE) takes the registry along: nothing left to guard.
  IF to_regclass(format('%I.tracked_tables', :'AUDITRUM_SCHEMA')) IS NULL THEN
    RETURN;
  END IF;
  FOR gone, gone_name IN
    UPDATE :AUDITRUM_SCHEMA.tracked_tables SET untracked_at = now(), function_checksum = ''
    WHERE untracked_at IS NULL AND relid IN (SELECT objid FROM pg_event_trigger_dropped_objects()
      WHERE classid = 'pg_class'::regclass AND object_type = 'table')
    RETURNING id, format('%I.%I', schema_name, table_name)
  LOOP
    -- Its rows go without a DELETE or TRUNCATE to record: the drop itself is the table's last row in the log.
    PERFORM :AUDITRUM_SCHEMA._record_capture_ddl(gone, 'table_dropped', format('DROP TABLE %s;', gone_name), NULL);
    PERFORM :AUDITRUM_SCHEMA._allow_capture_ddl(true);
    EXECUTE format('DROP FUNCTION IF EXISTS %I.%I()', :'AUDITRUM_SCHEMA', 'capture_' || gone);
    PERFORM :AUDITRUM_SCHEMA._allow_capture_ddl(false);
  END LOOP;
  IF current_setting('auditrum.capture_ddl', true) = :AUDITRUM_SCHEMA._ddl_mac('capture_ddl') THEN
    RETURN;
  END IF;
  SELECT string_agg(format('%s (%s)', name, objects), '; '), min(name) INTO broken, first_table
  FROM (
    SELECT format('%I.%I', tt.schema_name, tt.table_name) AS name, string_agg(format('%s %s dropped', d.object_type,
        CASE d.object_type WHEN 'trigger' THEN quote_ident(d.address_names[3]) ELSE d.object_identity END), ', ') AS objects
    FROM pg_event_trigger_dropped_objects() d
  JOIN :AUDITRUM_SCHEMA.tracked_tables tt ON tt.untracked_at IS NULL AND CASE d.object_type
    WHEN 'trigger' THEN d.address_names[3] = ANY (capture_triggers)
      AND tt.relid = to_regclass(format('%I.%I', d.address_names[1], d.address_names[2]))
    WHEN 'function' THEN d.address_names[1] = :'AUDITRUM_SCHEMA' AND d.address_names[2] = 'capture_' || tt.id
      AND EXISTS (SELECT FROM pg_class WHERE oid = tt.relid)
    ELSE false END
    GROUP BY tt.schema_name, tt.table_name
  ) per_table;
  IF broken IS NOT NULL THEN
    PERFORM :AUDITRUM_SCHEMA._refuse_capture_ddl(tg_tag, first_table, broken);
  END IF;
END;
$$;

-- Capture functions of tables tracked before version 8: executable by their owner alone.
DO $$
DECLARE
  fn regprocedure;
BEGIN
  FOR fn IN
    SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = :'AUDITRUM_SCHEMA' AND p.proname ~ '^capture_[0-9]+$'
  LOOP
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', fn);
  END LOOP;
END;
$$;

-- One row per log and purge run: what `auditrum purge` removed and up to where, kept after the rows are gone.
-- Written when the run starts and brought up to date in the transaction of each partition dropped and each batch
-- deleted, so that it says exactly what went even when a run stops midway (finished_at NULL). max_purged_id is the
-- highest id removed: what a later integrity check starts from (an anchor).
CREATE TABLE :AUDITRUM_SCHEMA.purges (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  purged_at timestamptz NOT NULL DEFAULT now(),
  purged_by name NOT NULL DEFAULT session_user,
  log text NOT NULL CHECK (log IN ('changes', 'api_requests')),
  older_than text NOT NULL,
  cutoff timestamptz NOT NULL,
  dropped_partitions text[] NOT NULL DEFAULT '{}',
  rows_purged bigint NOT NULL DEFAULT 0,
  max_purged_id bigint,
  finished_at timestamptz
);

-- The cut-off of a retention period: now minus `older_than`, computed in UTC (a month back from a time is not the
-- same instant in every time zone), so that a purge removes the same rows whatever the session's time zone. The
-- period must name its unit ('13 months', '1 year', '90 days', 'P1Y': PostgreSQL's interval syntax; a bare number
-- would be seconds) and be positive.
CREATE FUNCTION :AUDITRUM_SCHEMA.purge_cutoff(older_than text) RETURNS timestamptz
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET timezone = 'UTC' SET intervalstyle = 'postgres' AS $$
DECLARE
  period interval;
  cutoff timestamptz;
BEGIN
  IF older_than IS NULL OR older_than !~ '[a-zA-Z]' THEN
    RAISE EXCEPTION 'auditrum: retention period % has no unit: give e.g. ''13 months'', ''1 year'' or ''90 days''',
      coalesce(quote_literal(older_than), 'NULL') USING ERRCODE = 'invalid_parameter_value';
  END IF;
  BEGIN
    period := older_than::interval;
    cutoff := now() - period;
  EXCEPTION WHEN data_exception OR syntax_error THEN
    RAISE EXCEPTION 'auditrum: % is not a retention period: give e.g. ''13 months'', ''1 year'' or ''90 days''',
      quote_literal(older_than) USING ERRCODE = 'invalid_parameter_value';
  END;
  IF cutoff >= now() THEN
    RAISE EXCEPTION 'auditrum: retention period % must be longer than zero', quote_literal(older_than)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN cutoff;
END;
$$;

/**
 * What a purge of rows older than `cutoff` removes from the change log and the API-request log (`logs`, default
 * both), one row per partition that holds such rows: 'drop' for a partition entirely older than the cut-off
 * (detached, then dropped: every row goes), 'delete' for the partition that the cut-off falls in and for the
 * default partition (only the older rows, deleted in batches). `rows` is an exact count. Partition bounds are read
 * in UTC, whatever the session's time zone.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.purge_plan(cutoff timestamptz, logs text[] DEFAULT ARRAY['changes', 'api_requests'])
RETURNS TABLE (log text, partition_name text, action text, rows bigint, max_id bigint)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp SET timezone = 'UTC' SET datestyle = 'ISO, YMD' AS $$
DECLARE
  p record;
  time_column text;
  counted record;
BEGIN
  IF cutoff IS NULL OR logs IS NULL OR NOT logs <@ ARRAY['changes', 'api_requests'] THEN
    RAISE EXCEPTION 'auditrum: purge takes a cut-off time and logs among changes and api_requests, not %', logs
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR p IN
    SELECT parent.relname::text AS log, c.relname::text AS part, bounds.lower, bounds.upper, bound_sql = 'DEFAULT' AS is_default
    FROM pg_class parent
    JOIN pg_namespace n ON n.oid = parent.relnamespace AND n.nspname = :'AUDITRUM_SCHEMA'
    JOIN pg_inherits i ON i.inhparent = parent.oid
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS bound_sql) b
    CROSS JOIN LATERAL (SELECT m[1]::timestamptz AS lower, m[2]::timestamptz AS upper
      FROM (SELECT regexp_match(bound_sql, '^FOR VALUES FROM \(''([^'']+)''\) TO \(''([^'']+)''\)$') AS m) x) bounds
    WHERE parent.relname = ANY (logs)
    ORDER BY parent.relname, bounds.lower NULLS LAST
  LOOP
    time_column := CASE p.log WHEN 'changes' THEN 'changed_at' ELSE 'requested_at' END;
    IF NOT p.is_default AND p.upper <= cutoff THEN
      EXECUTE format('SELECT count(*), max(id) FROM %I.%I', :'AUDITRUM_SCHEMA', p.part) INTO counted;
      log := p.log; partition_name := p.part; action := 'drop'; rows := counted.count; max_id := counted.max;
      RETURN NEXT;
    ELSIF p.is_default OR p.lower < cutoff THEN
      EXECUTE format('SELECT count(*), max(id) FROM %I.%I WHERE %I < $1', :'AUDITRUM_SCHEMA', p.part, time_column)
        INTO counted USING cutoff;
      CONTINUE WHEN counted.count = 0;
      log := p.log; partition_name := p.part; action := 'delete'; rows := counted.count; max_id := counted.max;
      RETURN NEXT;
    END IF;
  END LOOP;
END;
$$;
