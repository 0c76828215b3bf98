-- Auditrum schema, version 5: capture triggers that a table's owner cannot drop or disable, ALTER TABLE followed
-- with the schema owner's rights, and schemas tracked as a whole.

-- A keyed hash of `message` and the current transaction id, with the secret key of the settings table (which
-- only the schema owner can read): a value that only Auditrum's own functions can produce, valid in this
-- transaction only.
CREATE FUNCTION :AUDITRUM_SCHEMA._ddl_mac(message text) RETURNS text
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
  SELECT encode(sha256(s.mask_okey || sha256(s.mask_ikey
    || convert_to(:'AUDITRUM_SCHEMA' || ':' || message || ':' || txid_current(), 'UTF8'))), 'hex')
  FROM :AUDITRUM_SCHEMA.settings s
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._ddl_mac(text) FROM PUBLIC;

-- Lets the rest of this transaction drop capture triggers and functions: untrack(), _install() (to replace a
-- trigger) and the drop guard (to drop a dropped table's capture function) call it, and call it again with false
-- right after their drops. Only the schema owner (and roles it grants EXECUTE to) may; the guard below recomputes
-- the value to check it.
CREATE FUNCTION :AUDITRUM_SCHEMA._allow_capture_ddl(allowed boolean) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT set_config('auditrum.capture_ddl', CASE WHEN allowed THEN :AUDITRUM_SCHEMA._ddl_mac('capture_ddl') ELSE '' END, true)
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._allow_capture_ddl(boolean) FROM PUBLIC;

/**
 * What keeps a tracked table's changes from being recorded, one problem per row: its capture function or a
 * capture trigger missing, a trigger replaced, disabled or firing only for replication, a rule that replaces the
 * table's writes (DO INSTEAD), a parent (partitioned table or inheritance parent, at any level) that is not
 * tracked: a write through a parent fires the parent's statement triggers, not the child's, so its changes to
 * this table's rows are not recorded (`untracked_parent` names that parent). Only for tables that still exist;
 * `relids` NULL means every tracked table. One definition for the guard, status and sync.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._capture_problems(relids oid[] DEFAULT NULL)
RETURNS TABLE (table_id integer, problem text, untracked_parent text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH RECURSIVE t AS (
    SELECT tt.id, tt.relid, to_regprocedure(format('%I.%I()', :'AUDITRUM_SCHEMA', 'capture_' || tt.id)) AS fn
    FROM :AUDITRUM_SCHEMA.tracked_tables tt JOIN pg_class c ON c.oid = tt.relid
    WHERE tt.untracked_at IS NULL AND (relids IS NULL OR tt.relid = ANY (relids))
  ),
  -- pg_trigger.tgtype of an AFTER … FOR EACH STATEMENT trigger is the event's bit alone.
  expected (ord, op, tgtype, old_table, new_table) AS (VALUES
    (1, 'insert', 4, NULL, 'new_rows'), (2, 'update', 16, 'old_rows', 'new_rows'),
    (3, 'delete', 8, 'old_rows', NULL), (4, 'truncate', 32, NULL, NULL)),
  ancestors (id, ancestor) AS (
    SELECT t.id, i.inhparent FROM t JOIN pg_inherits i ON i.inhrelid = t.relid
    UNION
    SELECT a.id, i.inhparent FROM ancestors a JOIN pg_inherits i ON i.inhrelid = a.ancestor
  ),
  found AS (
    SELECT t.id, 0 AS ord, format('function %I.%I() is missing', :'AUDITRUM_SCHEMA', 'capture_' || t.id) AS problem,
      NULL AS parent
    FROM t WHERE t.fn IS NULL
    UNION ALL
    SELECT t.id, e.ord, CASE
        WHEN g.oid IS NULL THEN format('trigger %I is missing', name)
        WHEN g.tgfoid IS DISTINCT FROM t.fn OR g.tgtype <> e.tgtype OR g.tgqual IS NOT NULL
          OR cardinality(g.tgattr::smallint[]) > 0 OR g.tgoldtable IS DISTINCT FROM e.old_table
          OR g.tgnewtable IS DISTINCT FROM e.new_table
          THEN format('trigger %I is not the capture trigger', name)
        WHEN g.tgenabled = 'D' THEN format('trigger %I is disabled', name)
        WHEN g.tgenabled = 'R' THEN format('trigger %I fires only for replication (ENABLE REPLICA)', name)
      END, NULL
    FROM t CROSS JOIN expected e
    CROSS JOIN LATERAL (SELECT left(:'AUDITRUM_SCHEMA', 40) || '_capture_' || e.op AS name) n
    LEFT JOIN pg_trigger g ON g.tgrelid = t.relid AND g.tgname = n.name
    UNION ALL
    SELECT t.id, 5, format('rule %I replaces %s (DO INSTEAD)', r.rulename,
      CASE r.ev_type WHEN '2' THEN 'UPDATE' WHEN '3' THEN 'INSERT' ELSE 'DELETE' END), NULL
    FROM t JOIN pg_rewrite r ON r.ev_class = t.relid
    WHERE r.is_instead AND r.ev_type IN ('2', '3', '4') AND r.ev_enabled IN ('O', 'A')
    UNION ALL
    SELECT a.id, 6, format('writes through parent %s are not recorded', p.name), p.name
    FROM ancestors a JOIN pg_class c ON c.oid = a.ancestor JOIN pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN LATERAL (SELECT format('%I.%I', n.nspname, c.relname) AS name) p
    WHERE NOT EXISTS (
      SELECT FROM :AUDITRUM_SCHEMA.tracked_tables tt WHERE tt.relid = a.ancestor AND tt.untracked_at IS NULL)
  )
  SELECT id, problem, parent FROM found WHERE problem IS NOT NULL ORDER BY id, ord, problem
$$;

-- Installs (or replaces) the capture function and its four statement triggers for a registry row, and repairs
-- them: a missing trigger is created, one that is not the capture trigger replaced, a disabled one enabled.
-- Returns the DDL that it ran, or '' when everything was already in place. Rules that replace the table's
-- writes and parents that are not tracked are the application's and are left alone (status and sync report them).
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._install(table_id integer) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t :AUDITRUM_SCHEMA.tracked_tables;
  rel text;
  function_sql text;
  checksum text;
  ddl text := '';
  drops text := '';
  creates text := '';
  enables text[] := '{}';
  op text;
  trigger_name text;
  existing pg_trigger;
  problems text[];
BEGIN
  SELECT * INTO STRICT t FROM :AUDITRUM_SCHEMA.tracked_tables WHERE id = table_id;
  rel := format('%I.%I', t.schema_name, t.table_name);
  function_sql := :AUDITRUM_SCHEMA._capture_function_sql(t);
  checksum := encode(sha256(convert_to(function_sql, 'UTF8')), 'hex');
  IF checksum IS DISTINCT FROM t.function_checksum
    OR to_regprocedure(format('%I.%I()', :'AUDITRUM_SCHEMA', 'capture_' || t.id)) IS NULL THEN
    EXECUTE function_sql;
    ddl := function_sql || E';\n';
    UPDATE :AUDITRUM_SCHEMA.tracked_tables SET function_checksum = checksum, updated_at = now() WHERE id = t.id;
  END IF;
  SELECT array_agg(p.problem) INTO problems FROM :AUDITRUM_SCHEMA._capture_problems(ARRAY[t.relid]) p;
  FOREACH op IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
    trigger_name := left(:'AUDITRUM_SCHEMA', 40) || '_capture_' || op;
    SELECT * INTO existing FROM pg_trigger WHERE tgrelid = t.relid AND tgname = trigger_name;
    IF existing.oid IS NOT NULL AND format('trigger %I is not the capture trigger', trigger_name) = ANY (problems) THEN
      drops := drops || format(E'DROP TRIGGER %I ON %s;\n', trigger_name, rel);
    ELSIF existing.oid IS NOT NULL THEN
      IF existing.tgenabled NOT IN ('O', 'A') THEN
        enables := enables || format('ENABLE TRIGGER %I', trigger_name);
      END IF;
      CONTINUE;
    END IF;
    creates := creates || format(E'CREATE TRIGGER %I AFTER %s ON %s%s FOR EACH STATEMENT EXECUTE FUNCTION %I.%I();\n',
      trigger_name, upper(op), rel,
      CASE op
        WHEN 'insert' THEN ' REFERENCING NEW TABLE AS new_rows'
        WHEN 'update' THEN ' REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
        WHEN 'delete' THEN ' REFERENCING OLD TABLE AS old_rows'
        ELSE '' END,
      :'AUDITRUM_SCHEMA', 'capture_' || t.id);
  END LOOP;
  IF drops <> '' THEN
    -- Only this function's drops get past the guard: the permission ends with them.
    PERFORM :AUDITRUM_SCHEMA._allow_capture_ddl(true);
    EXECUTE drops;
    PERFORM :AUDITRUM_SCHEMA._allow_capture_ddl(false);
  END IF;
  IF creates <> '' THEN
    EXECUTE creates;
  END IF;
  IF cardinality(enables) > 0 THEN
    -- One statement for all, so that the DDL follower it wakes finds every trigger enabled.
    EXECUTE format('ALTER TABLE %s %s', rel, array_to_string(enables, ', '));
  END IF;
  ddl := ddl || drops || creates
    || CASE WHEN cardinality(enables) > 0 THEN format(E'ALTER TABLE %s %s;\n', rel, array_to_string(enables, ', ')) ELSE '' END;
  RETURN ddl;
END;
$$;

/** Stops auditing a table. Its history stays, under the same table id if it is tracked again. */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA.untrack(target regclass) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t :AUDITRUM_SCHEMA.tracked_tables;
  ddl text := '';
  op text;
BEGIN
  SELECT * INTO t FROM :AUDITRUM_SCHEMA.tracked_tables WHERE relid = target AND untracked_at IS NULL;
  IF t.id IS NULL THEN
    RETURN jsonb_build_object('table_id', NULL, 'action', 'unchanged', 'ddl', '');
  END IF;
  FOREACH op IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
    ddl := ddl || format(E'DROP TRIGGER IF EXISTS %I ON %s;\n', left(:'AUDITRUM_SCHEMA', 40) || '_capture_' || op, target);
  END LOOP;
  ddl := ddl || format(E'DROP FUNCTION IF EXISTS %I.%I();\n', :'AUDITRUM_SCHEMA', 'capture_' || t.id);
  -- The guard lets these drops through, and nothing after them.
  PERFORM :AUDITRUM_SCHEMA._allow_capture_ddl(true);
  EXECUTE ddl;
  PERFORM :AUDITRUM_SCHEMA._allow_capture_ddl(false);
  UPDATE :AUDITRUM_SCHEMA.tracked_tables SET untracked_at = now(), function_checksum = '' WHERE id = t.id;
  RETURN jsonb_build_object('table_id', t.id, 'action', 'untracked', 'ddl', ddl);
END;
$$;

-- The guard's message: what the statement would break, and how to do properly what it meant to do: make a
-- tracked table the partition or child of `untracked_parent` (track that parent first), or stop auditing a table.
CREATE FUNCTION :AUDITRUM_SCHEMA._refuse_capture_ddl(command text, first_table text, broken text,
  untracked_parent text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF untracked_parent IS NOT NULL THEN
    RAISE EXCEPTION 'auditrum: % refused: it would stop the auditing of %; to make a tracked table a partition or inheritance child, track its parent first: run "auditrum track %" as the owner of the Auditrum schema', command, broken, untracked_parent
      USING ERRCODE = 'insufficient_privilege',
        HINT = format('In SQL: SELECT %I.track(%L);', :'AUDITRUM_SCHEMA', untracked_parent);
  END IF;
  RAISE EXCEPTION 'auditrum: % refused: it would stop the auditing of %; to stop auditing a table, run "auditrum untrack %" as the owner of the Auditrum schema', command, broken, first_table
    USING ERRCODE = 'insufficient_privilege',
      HINT = format('In SQL: SELECT %I.untrack(%L);', :'AUDITRUM_SCHEMA', first_table);
END;
$$;

-- What was already wrong before each guarded statement under way in this transaction, so that the guard refuses
-- only what the statement itself breaks (a table broken earlier stays alterable, and the DDL follower repairs it).
-- A stack: code that a statement runs (a column default, per row) can run a guarded statement of its own, which
-- pushes and pops its own row. In a table that only the guard writes, not in a setting, because code run by the
-- statement could set one: even a signed value, read from a nested statement's start (which sees what the outer
-- statement already broke) and put back after it, would pass. Rows live only inside their transaction (unlogged).
CREATE UNLOGGED TABLE :AUDITRUM_SCHEMA._guard_known (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  xact bigint NOT NULL,
  known text[] NOT NULL
);
REVOKE ALL ON :AUDITRUM_SCHEMA._guard_known FROM PUBLIC;

-- Before ALTER TABLE, ALTER TRIGGER, CREATE TRIGGER and CREATE RULE: pushes what is already wrong.
CREATE FUNCTION :AUDITRUM_SCHEMA._guard_capture_start() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO :AUDITRUM_SCHEMA._guard_known (xact, known)
  SELECT txid_current(), coalesce(array_agg(p.table_id || ':' || p.problem), '{}')
  FROM :AUDITRUM_SCHEMA._capture_problems() p;
END;
$$;

-- After ALTER TABLE, ALTER TRIGGER, CREATE TRIGGER and CREATE RULE: refuses the statement if it disabled, renamed
-- or replaced (CREATE OR REPLACE TRIGGER) a capture trigger of a tracked table, gave it a rule that replaces its
-- writes, or made it a partition or inheritance child of a table that is not tracked (ATTACH PARTITION, INHERIT).
CREATE FUNCTION :AUDITRUM_SCHEMA._guard_capture_ddl() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  relids oid[];
  known text[];
  broken text;
  first_table text;
  untracked_parent text;
BEGIN
  -- Pops what its start pushed (nothing when the guard was created during this statement: then all is new).
  DELETE FROM :AUDITRUM_SCHEMA._guard_known
  WHERE id = (SELECT max(id) FROM :AUDITRUM_SCHEMA._guard_known WHERE xact = txid_current())
  RETURNING _guard_known.known INTO known;
  known := coalesce(known, '{}');
  -- The tables below the ones named count too: ATTACH PARTITION names the parent, not the table it attaches.
  WITH RECURSIVE named AS (
    SELECT CASE d.classid
      WHEN 'pg_class'::regclass THEN d.objid
      WHEN 'pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_trigger WHERE oid = d.objid)
      WHEN 'pg_rewrite'::regclass THEN (SELECT ev_class FROM pg_rewrite WHERE oid = d.objid) END AS relid
    FROM pg_event_trigger_ddl_commands() d
    UNION
    SELECT i.inhrelid FROM named JOIN pg_inherits i ON i.inhparent = named.relid
  )
  SELECT array_agg(relid) INTO relids FROM named WHERE relid IS NOT NULL;
  IF NOT EXISTS (SELECT FROM :AUDITRUM_SCHEMA.tracked_tables WHERE relid = ANY (relids) AND untracked_at IS NULL)
    OR current_setting('auditrum.capture_ddl', true) = :AUDITRUM_SCHEMA._ddl_mac('capture_ddl') THEN
    RETURN;
  END IF;
  SELECT string_agg(format('%s (%s)', name, problems), '; '), min(name), min(parent)
  INTO broken, first_table, untracked_parent
  FROM (
    SELECT format('%I.%I', tt.schema_name, tt.table_name) AS name, string_agg(p.problem, ', ') AS problems,
      min(p.untracked_parent) AS parent
    FROM :AUDITRUM_SCHEMA._capture_problems(relids) p JOIN :AUDITRUM_SCHEMA.tracked_tables tt ON tt.id = p.table_id
    WHERE NOT (p.table_id || ':' || p.problem) = ANY (known)
    GROUP BY tt.schema_name, tt.table_name
  ) per_table;
  IF broken IS NOT NULL THEN
    PERFORM :AUDITRUM_SCHEMA._refuse_capture_ddl(tg_tag, first_table, broken, untracked_parent);
  END IF;
END;
$$;

-- After a DROP: refuses dropping a capture trigger or function of a tracked table that stays; a tracked table
-- that is dropped stops being tracked (its history stays), and its capture function goes with it.
CREATE FUNCTION :AUDITRUM_SCHEMA._guard_capture_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  capture_triggers text[] := ARRAY(SELECT left(:'AUDITRUM_SCHEMA', 40) || '_capture_' || op
    FROM unnest(ARRAY['insert', 'update', 'delete', 'truncate']) op);
  broken text;
  first_table text;
  gone integer;
BEGIN
  -- DROP SCHEMA of Auditrum itself (CASCADE) takes the registry along: nothing left to guard.
  IF to_regclass(format('%I.tracked_tables', :'AUDITRUM_SCHEMA')) IS NULL THEN
    RETURN;
  END IF;
  FOR gone IN
    UPDATE :AUDITRUM_SCHEMA.tracked_tables SET untracked_at = now(), function_checksum = ''
    WHERE untracked_at IS NULL AND relid IN (SELECT objid FROM pg_event_trigger_dropped_objects()
      WHERE classid = 'pg_class'::regclass AND object_type = 'table')
    RETURNING id
  LOOP
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

-- ALTER TABLE by a tracked table's owner must work and be followed, though the owner cannot write the registry:
-- the follower runs with the schema owner's rights. What it runs with them: catalog reads, the capture function
-- generated from the catalog (names quoted), CREATE/ENABLE TRIGGER, and the planning of the stored "when"
-- condition, which the capture function (SECURITY DEFINER too) evaluates at every write anyway; see
-- docs/concepts.md on why that condition must not call functions that the table's owner can replace.
ALTER FUNCTION :AUDITRUM_SCHEMA._follow_ddl() SECURITY DEFINER;

/**
 * Database schemas tracked as a whole (config `schemas`): `auditrum sync` tracks every table of them but
 * `except_tables`, with `rules` (or the config's own rules for a table), and with `track_new` a table created
 * later is tracked as it is created, where event triggers exist.
 */
CREATE TABLE :AUDITRUM_SCHEMA.tracked_schemas (
  schema_name text PRIMARY KEY,
  except_tables text[] NOT NULL DEFAULT '{}',
  rules jsonb NOT NULL DEFAULT '{}',
  track_new boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- After CREATE TABLE, CREATE TABLE AS and SELECT INTO in a schema tracked with track_new: tracks the new table.
-- A table that cannot be tracked (no primary key, rules that do not fit) is reported with a warning and left
-- untracked, and `auditrum sync --check` reports it: the CREATE TABLE itself never fails because of Auditrum.
CREATE FUNCTION :AUDITRUM_SCHEMA._track_new_tables() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS name, s.rules
    FROM pg_event_trigger_ddl_commands() d
    JOIN pg_class c ON c.oid = d.objid JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN :AUDITRUM_SCHEMA.tracked_schemas s ON s.schema_name = n.nspname AND s.track_new
    WHERE d.classid = 'pg_class'::regclass AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND NOT c.relname = ANY (s.except_tables)
  LOOP
    BEGIN
      -- As sync does: the schema's exclude and mask apply to the columns that this table has.
      PERFORM :AUDITRUM_SCHEMA.track(r.oid::regclass, (r.rules - 'exclude' - 'mask') || jsonb_strip_nulls(jsonb_build_object(
        'exclude', (SELECT jsonb_agg(x) FROM jsonb_array_elements_text(r.rules->'exclude') x
                    WHERE EXISTS (SELECT FROM pg_attribute WHERE attrelid = r.oid AND attname = x AND NOT attisdropped)),
        'mask', (SELECT jsonb_agg(x) FROM jsonb_array_elements_text(r.rules->'mask') x
                 WHERE EXISTS (SELECT FROM pg_attribute WHERE attrelid = r.oid AND attname = x AND NOT attisdropped)))));
    EXCEPTION WHEN OTHERS THEN
      RAISE WARNING 'auditrum: new table % is not tracked: %', r.name, regexp_replace(SQLERRM, '^auditrum: ', '')
        USING HINT = 'Give it rules in the config (tables) or leave it out (except), then run "auditrum sync".';
    END;
  END LOOP;
END;
$$;

-- Event triggers need a superuser (or a managed service's admin role). Without one, a table's owner can still
-- drop or disable its capture triggers: `auditrum status` and `sync --check` detect it, `auditrum sync` repairs.
DO $$
DECLARE
  prefix text := left(:'AUDITRUM_SCHEMA', 40);
BEGIN
  -- Named so that the guard runs before the DDL follower (event triggers of one event fire in name order).
  EXECUTE format('CREATE EVENT TRIGGER %I ON ddl_command_start WHEN TAG IN (''ALTER TABLE'', ''ALTER TRIGGER'', ''CREATE TRIGGER'', ''CREATE RULE'') EXECUTE FUNCTION %I._guard_capture_start()',
    prefix || '_capture_guard_start', :'AUDITRUM_SCHEMA');
  EXECUTE format('CREATE EVENT TRIGGER %I ON ddl_command_end WHEN TAG IN (''ALTER TABLE'', ''ALTER TRIGGER'', ''CREATE TRIGGER'', ''CREATE RULE'') EXECUTE FUNCTION %I._guard_capture_ddl()',
    prefix || '_capture_guard', :'AUDITRUM_SCHEMA');
  EXECUTE format('CREATE EVENT TRIGGER %I ON sql_drop EXECUTE FUNCTION %I._guard_capture_drop()',
    prefix || '_capture_guard_drop', :'AUDITRUM_SCHEMA');
  EXECUTE format('CREATE EVENT TRIGGER %I ON ddl_command_end WHEN TAG IN (''CREATE TABLE'', ''CREATE TABLE AS'', ''SELECT INTO'') EXECUTE FUNCTION %I._track_new_tables()',
    prefix || '_track_new_tables', :'AUDITRUM_SCHEMA');
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'auditrum: no privilege to create event triggers; a tracked table''s owner can disable its capture triggers (detected by "auditrum status", repaired by "auditrum sync"), and new tables are not tracked as they are created';
END;
$$;
