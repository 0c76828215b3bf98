-- Auditrum schema, version 4: which roles give trusted context (others' comments are kept as claimed), and
-- values too large to store whole.

-- The database roles whose statements' context comments are believed: the application's. A comment from any
-- other role is kept as claimed context beside the real database user. The capture functions compare
-- session_user with these roles' names, spelled into their SQL (no look-up per statement), so any change here
-- regenerates them. Listed by oid, so that a renamed role stays listed (status reports the capture functions as
-- drifted until sync regenerates them with the new name).
CREATE TABLE :AUDITRUM_SCHEMA.application_roles (
  role_oid oid PRIMARY KEY,
  -- The name when it was added, for display (the current name is in pg_roles).
  role_name name NOT NULL,
  added_at timestamptz NOT NULL DEFAULT now(),
  added_by name NOT NULL DEFAULT session_user
);
-- Role names are public (pg_roles); a role may check whether it is trusted.
GRANT SELECT ON :AUDITRUM_SCHEMA.application_roles TO PUBLIC;

-- The role that installs the schema is the application's in the one-role set-up, so it is trusted from the start.
INSERT INTO :AUDITRUM_SCHEMA.application_roles (role_oid, role_name)
SELECT oid, rolname FROM pg_roles WHERE rolname = current_user;

-- The per-table limit on one recorded value's size; NULL means the default below.
ALTER TABLE :AUDITRUM_SCHEMA.tracked_tables ADD COLUMN max_value_bytes integer
  CHECK (max_value_bytes BETWEEN 1 AND 134217727);

-- The default limit on one recorded value: 1 MiB. A larger value is a document or a file rather than a field that
-- a person reads in a diff, and a change row stays bounded (jsonb refuses an object over 256 MB: 150 MB of text
-- and 75 MB of bytea, whose JSON is hex, made the table's own write fail).
CREATE FUNCTION :AUDITRUM_SCHEMA._default_max_value_bytes() RETURNS integer
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$ SELECT 1048576 $$;

-- Re-generates the capture function of every tracked table (after the trusted roles changed). A table dropped
-- without untrack has nothing left to generate and is skipped.
CREATE FUNCTION :AUDITRUM_SCHEMA._reinstall_all() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t_id integer;
  count integer := 0;
BEGIN
  FOR t_id IN
    SELECT t.id FROM :AUDITRUM_SCHEMA.tracked_tables t
    WHERE t.untracked_at IS NULL AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.relid)
    ORDER BY t.id
  LOOP
    PERFORM :AUDITRUM_SCHEMA._install(t_id);
    count := count + 1;
  END LOOP;
  RETURN count;
END;
$$;

/**
 * Trusts the context comments of `role`'s sessions (its login, not a role it may SET ROLE to), grants it what
 * the application needs at run time (the schema, writing the API-request log) and regenerates the capture
 * functions. For the schema owner only. Returns false when the role was trusted already (the grants are given
 * again all the same).
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.add_application_role(role regrole) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  added boolean := false;
BEGIN
  IF role IS NULL OR role = 0 THEN
    RAISE EXCEPTION 'auditrum: give the database role to trust' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO :AUDITRUM_SCHEMA.application_roles (role_oid, role_name)
  SELECT oid, rolname FROM pg_roles WHERE oid = role
  ON CONFLICT (role_oid) DO NOTHING
  RETURNING true INTO added;
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %s', :'AUDITRUM_SCHEMA', role);
  EXECUTE format('GRANT INSERT ON %I.api_requests TO %s', :'AUDITRUM_SCHEMA', role);
  EXECUTE format('GRANT USAGE ON SEQUENCE %I.api_requests_id_seq TO %s', :'AUDITRUM_SCHEMA', role);
  IF added THEN
    PERFORM :AUDITRUM_SCHEMA._reinstall_all();
  END IF;
  RETURN coalesce(added, false);
END;
$$;

/**
 * Stops trusting `role`'s context comments (its later changes are `source: db`, their comments kept as claimed)
 * and regenerates the capture functions. Its grants stay: revoke them if it should not write the API log either.
 * For the schema owner only. Returns false when the role was not trusted.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.remove_application_role(role regrole) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  removed boolean := false;
BEGIN
  IF role IS NULL OR role = 0 THEN
    RAISE EXCEPTION 'auditrum: give the database role to stop trusting' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  DELETE FROM :AUDITRUM_SCHEMA.application_roles WHERE role_oid = role RETURNING true INTO removed;
  IF removed THEN
    PERFORM :AUDITRUM_SCHEMA._reinstall_all();
  END IF;
  RETURN coalesce(removed, false);
END;
$$;

REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA.add_application_role(regrole) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA.remove_application_role(regrole) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._reinstall_all() FROM PUBLIC;

-- How the capture function measures a column's values against the size limit, without reading a toasted value:
-- the SQL of the size and of the SHA-256 of a value «x», or NULLs when no value of the type can be over `max_bytes`
-- (fixed-length types, varchar(n) and char(n) below it, numeric). Text types and bytea are measured by their raw
-- length, which octet_length() reads from the toast header; other variable-length types (jsonb, arrays, …) by
-- their stored size, pg_column_size(), which is the compressed size of a compressed value.
CREATE FUNCTION :AUDITRUM_SCHEMA._value_size_sql(typ oid, typmod integer, max_bytes integer,
  OUT size_sql text, OUT hash_sql text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  base oid := typ;
  base_mod integer := typmod;
  kind "char";
  len smallint;
  domain_base oid;
  domain_mod integer;
BEGIN
  -- A domain is measured as its base type.
  LOOP
    SELECT t.typtype, t.typlen, t.typbasetype, t.typtypmod INTO kind, len, domain_base, domain_mod
    FROM pg_type t WHERE t.oid = base;
    EXIT WHEN kind IS DISTINCT FROM 'd';
    base := domain_base;
    IF domain_mod <> -1 THEN
      base_mod := domain_mod;
    END IF;
  END LOOP;
  IF len IS DISTINCT FROM -1 THEN
    RETURN;
  END IF;
  IF base IN ('varchar'::regtype, 'bpchar'::regtype) AND base_mod >= 4
    AND (base_mod - 4)::bigint * pg_encoding_max_length(pg_char_to_encoding(getdatabaseencoding())) <= max_bytes THEN
    RETURN;
  END IF;
  -- 131,072 digits before the point and 16,383 after, in base 10,000: at most 73,736 bytes.
  IF base = 'numeric'::regtype AND max_bytes >= 73736 THEN
    RETURN;
  END IF;
  IF base = 'bytea'::regtype THEN
    size_sql := 'octet_length(«x»)';
    hash_sql := 'sha256(«x»)';
  ELSIF base = 'bpchar'::regtype THEN
    size_sql := 'octet_length(«x»)';
    hash_sql := 'sha256(convert_to(«x»::text, ''UTF8''))';
  ELSIF base = 'text'::regtype
    OR EXISTS (SELECT 1 FROM pg_cast WHERE castsource = base AND casttarget = 'text'::regtype AND castmethod = 'b') THEN
    size_sql := 'octet_length(«x»::text)';
    hash_sql := 'sha256(convert_to(«x»::text, ''UTF8''))';
  ELSE
    size_sql := 'pg_column_size(«x»)';
    hash_sql := 'sha256(convert_to(«x»::text, ''UTF8''))';
  END IF;
END;
$$;

-- The key "" (which no column can have) of a values object lists the columns whose values are oversized markers:
-- a json or jsonb column may hold anything, an object shaped like a marker included. `marked` holds one
-- `CASE WHEN <over the limit> THEN '<column>' END` per column.
CREATE FUNCTION :AUDITRUM_SCHEMA._oversized_list_sql(marked text[]) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT format(
    $f$CASE WHEN array_remove(ARRAY[%1$s]::text[], NULL) <> '{}' THEN jsonb_build_object('', jsonb_build_object('oversized', to_jsonb(array_remove(ARRAY[%1$s]::text[], NULL)))) ELSE '{}'::jsonb END$f$,
    array_to_string(marked, ', '))
$$;

-- A statement of the capture function with its parameters bound for a cached plan: the time and transaction id
-- as the functions themselves (the same values all through the trigger; no variable to assign at every
-- statement), the rest as the function's variables.
CREATE FUNCTION :AUDITRUM_SCHEMA._bind_cached(statement text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT :AUDITRUM_SCHEMA._bind(replace(replace(statement, '«ts»', 'statement_timestamp()'), '«xid»', 'txid_current()'), false)
$$;

-- How a value of type `typ` is turned into text or JSON without a cast the type's owner may have made. Casts are
-- looked up by type, not by search_path, and jsonb_build_object() and to_jsonb() call a type's own cast to json:
-- the owner of a user-defined type (an enum, a composite, a range, a domain or array over one) could make the
-- capture function, which runs with its owner's rights, call its function. For such a type (its base type, after
-- domains and arrays, is not built in) this returns a template over «x» that renders the value with the type's
-- output function, which only a superuser can write (format('%s') calls it directly): a string, or for an array
-- an array of strings. NULL for built-in types, whose values are used as they are.
CREATE FUNCTION :AUDITRUM_SCHEMA._rendered_value_sql(typ oid) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  base oid := typ;
  is_array boolean := false;
  next_base oid;
  element oid;
  kind "char";
BEGIN
  LOOP
    SELECT t.typtype, t.typbasetype, CASE WHEN t.typsubscript = 'array_subscript_handler'::regproc THEN t.typelem END
    INTO kind, next_base, element
    FROM pg_type t WHERE t.oid = base;
    IF kind = 'd' THEN
      base := next_base;
    ELSIF element IS NOT NULL AND element <> 0 THEN
      base := element;
      is_array := true;
    ELSE
      EXIT;
    END IF;
  END LOOP;
  -- FirstNormalObjectId: below it, the types of initdb and of no user.
  IF base < 16384 THEN
    RETURN NULL;
  END IF;
  RETURN CASE WHEN is_array
    THEN $t$CASE WHEN num_nulls(«x») = 0 THEN format('%s', «x»)::text[] END$t$
    ELSE $t$CASE WHEN num_nulls(«x») = 0 THEN format('%s', «x») END$t$ END;
END;
$$;

-- The capture function of one tracked table, as a CREATE OR REPLACE statement. Generated per table, with the
-- column list spelled out, because set-based SQL over known columns is what keeps the per-row cost low; it is
-- regenerated on ALTER TABLE by the event trigger, and when the application roles change.
--
-- Version 4: context comments are believed only from the application roles (session_user among their names,
-- spelled into the function); another role's comment is kept as `claimed` beside the real database user. Values
-- over the table's size limit are recorded as {"$auditrum": "oversized", "bytes": n, "sha256": "…"}, listed
-- under the values object's key "". The usual statements leave out rows with such a value (one greatest() of
-- the variable-length columns' sizes per row) and raise a flag; only then does a second statement record them
-- with markers (a single-row UPDATE needs no flag: its marker statement runs when the usual one recorded
-- nothing). Every statement's expressions are set up at each execution, so the markers' expressions are kept
-- out of the statements that run every time.
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._capture_function_sql(t :AUDITRUM_SCHEMA.tracked_tables) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $gen$
DECLARE
  audit text := quote_ident(:'AUDITRUM_SCHEMA');
  rel text := format('%I.%I', t.schema_name, t.table_name);
  max_bytes integer := coalesce(t.max_value_bytes, :AUDITRUM_SCHEMA._default_max_value_bytes());
  trusted text;
  col record;
  image_new text[] := '{}';
  image_old text[] := '{}';
  diff_old text[] := '{}';
  diff_new text[] := '{}';
  slow_image_new text[] := '{}';
  slow_image_old text[] := '{}';
  slow_diff_old text[] := '{}';
  slow_diff_new text[] := '{}';
  sizes_new text[] := '{}';
  sizes_old text[] := '{}';
  marked_image_new text[] := '{}';
  marked_image_old text[] := '{}';
  marked_diff_new text[] := '{}';
  marked_diff_old text[] := '{}';
  changed text[] := '{}';
  key_new text;
  key_old text;
  key_parts_new text[] := '{}';
  key_parts_old text[] := '{}';
  has_mask boolean := cardinality(t.mask_attnums) > 0;
  cond text := coalesce('(' || t.when_condition || ')', 'true');
  null_old text := '';
  null_new text := '';
  columns_list text := 'changed_at, txid, table_id, operation, row_key, old_values, new_values, actor_id, request_id, context';
  ins_sql text; del_sql text; upd_one_sql text; upd_many_sql text;
  fits_new text := 'true'; fits_old text := 'true'; fits_both text := 'true'; fits_one text := 'true';
  over_new text; over_old text; over_both text;
  -- The marker statements, run only when a row was left out; empty without measured columns.
  marked_ins text := ''; marked_del text := ''; marked_upd_one text := ''; marked_upd_many text := '';
BEGIN
  SELECT coalesce(string_agg(quote_literal(r.rolname), ', ' ORDER BY r.rolname), '')
  INTO trusted
  FROM :AUDITRUM_SCHEMA.application_roles a JOIN pg_roles r ON r.oid = a.role_oid;
  trusted := CASE WHEN trusted = '' THEN 'false' ELSE format('session_user IN (%s)', trusted) END;

  FOR col IN
    SELECT a.attnum, a.attname, a.atttypid, a.atttypmod,
      (a.attnum = ANY (t.mask_attnums)) AS masked,
      :AUDITRUM_SCHEMA._compares_by_equality(a.atttypid) AS by_equality,
      coalesce(replace(:AUDITRUM_SCHEMA._rendered_value_sql(a.atttypid), '«x»', format('«v».%I', a.attname)),
        format('«v».%I', a.attname)) AS val
    FROM pg_attribute a
    WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
      AND (t.only_attnums IS NULL OR a.attnum = ANY (t.only_attnums))
      AND NOT (a.attnum = ANY (t.exclude_attnums))
    ORDER BY a.attnum
  LOOP
    -- «v» stands for the row alias (old or new); masked values become a keyed hash or a marker.
    DECLARE
      v text := CASE
        WHEN NOT col.masked THEN col.val
        WHEN t.mask_mode = 'marker' THEN format('CASE WHEN «v».%I IS NULL THEN NULL ELSE ''[masked]'' END', col.attname)
        ELSE format('CASE WHEN «v».%I IS NULL THEN NULL ELSE ''hmac:'' || left(encode(sha256(«okey» || sha256(«ikey» || convert_to((%s)::text, ''UTF8''))), ''hex''), 32) END', col.attname, col.val)
      END;
      value_size text;
      value_hash text;
      pair_new text := format('%L, %s', col.attname, replace(v, '«v»', 'new'));
      pair_old text := format('%L, %s', col.attname, replace(v, '«v»', 'old'));
      chg text := CASE
        WHEN col.by_equality THEN format('old.%1$I IS DISTINCT FROM new.%1$I', col.attname)
        WHEN col.val <> format('«v».%I', col.attname) THEN format('%s IS DISTINCT FROM %s', replace(col.val, '«v»', 'old'), replace(col.val, '«v»', 'new'))
        ELSE format('old.%1$I::text IS DISTINCT FROM new.%1$I::text', col.attname) END;
      over_v text;
      slow_pair_v text;
      slow_pair_new text := pair_new;
      slow_pair_old text := pair_old;
    BEGIN
      -- A masked value is stored small whatever its size.
      IF NOT col.masked THEN
        SELECT s.size_sql, s.hash_sql INTO value_size, value_hash
        FROM :AUDITRUM_SCHEMA._value_size_sql(col.atttypid, col.atttypmod, max_bytes) s;
      END IF;
      image_new := image_new || pair_new;
      image_old := image_old || pair_old;
      changed := changed || chg;
      diff_old := diff_old || format('CASE WHEN %s THEN jsonb_build_object(%s) ELSE ''{}''::jsonb END', chg, pair_old);
      diff_new := diff_new || format('CASE WHEN %s THEN jsonb_build_object(%s) ELSE ''{}''::jsonb END', chg, pair_new);
      IF value_size IS NOT NULL THEN
        value_size := replace(value_size, '«x»', format('«v».%I', col.attname));
        over_v := format('%s > %s', value_size, max_bytes);
        slow_pair_v := format(
          '%L, CASE WHEN %s THEN jsonb_build_object(''$auditrum'', ''oversized'', ''bytes'', %s, ''sha256'', encode(%s, ''hex'')) ELSE to_jsonb(%s) END',
          col.attname, over_v, value_size, replace(value_hash, '«x»', col.val), col.val);
        slow_pair_new := replace(slow_pair_v, '«v»', 'new');
        slow_pair_old := replace(slow_pair_v, '«v»', 'old');
        sizes_new := sizes_new || replace(value_size, '«v»', 'new');
        sizes_old := sizes_old || replace(value_size, '«v»', 'old');
        marked_image_new := marked_image_new || format('CASE WHEN %s THEN %L END', replace(over_v, '«v»', 'new'), col.attname);
        marked_image_old := marked_image_old || format('CASE WHEN %s THEN %L END', replace(over_v, '«v»', 'old'), col.attname);
        marked_diff_new := marked_diff_new || format('CASE WHEN %s AND %s THEN %L END', chg, replace(over_v, '«v»', 'new'), col.attname);
        marked_diff_old := marked_diff_old || format('CASE WHEN %s AND %s THEN %L END', chg, replace(over_v, '«v»', 'old'), col.attname);
      END IF;
      slow_image_new := slow_image_new || slow_pair_new;
      slow_image_old := slow_image_old || slow_pair_old;
      slow_diff_old := slow_diff_old || format('CASE WHEN %s THEN jsonb_build_object(%s) ELSE ''{}''::jsonb END', chg, slow_pair_old);
      slow_diff_new := slow_diff_new || format('CASE WHEN %s THEN jsonb_build_object(%s) ELSE ''{}''::jsonb END', chg, slow_pair_new);
    END;
  END LOOP;
  IF cardinality(changed) = 0 THEN
    RAISE EXCEPTION 'auditrum: no column of table % is left to track', rel USING ERRCODE = 'invalid_parameter_value';
  END IF;

  SELECT array_agg(replace(r.val, '«v»', 'new') ORDER BY k.ord), array_agg(replace(r.val, '«v»', 'old') ORDER BY k.ord)
  INTO key_parts_new, key_parts_old
  FROM unnest(t.key_attnums) WITH ORDINALITY AS k(num, ord)
  JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum = k.num AND NOT a.attisdropped
  CROSS JOIN LATERAL (SELECT coalesce(replace(:AUDITRUM_SCHEMA._rendered_value_sql(a.atttypid), '«x»', format('«v».%I', a.attname)),
    format('«v».%I', a.attname)) AS val) r;
  IF coalesce(cardinality(key_parts_new), 0) <> cardinality(t.key_attnums) THEN
    RAISE EXCEPTION 'auditrum: a key column of table % no longer exists; untrack the table or give other key columns', rel
      USING ERRCODE = 'invalid_table_definition';
  END IF;
  IF cardinality(key_parts_new) = 1 THEN
    key_new := '(' || key_parts_new[1] || ')::text';
    key_old := '(' || key_parts_old[1] || ')::text';
  ELSE
    key_new := format('jsonb_build_array(%s)::text', array_to_string(key_parts_new, ', '));
    key_old := format('jsonb_build_array(%s)::text', array_to_string(key_parts_old, ', '));
  END IF;

  IF t.when_condition IS NOT NULL THEN
    null_old := format(', (SELECT (NULL::%s).*) AS old', rel);
    null_new := format(', (SELECT (NULL::%s).*) AS new', rel);
  END IF;

  -- A row fits when its largest measured value is within the limit (greatest() skips NULLs; the 0 keeps it from
  -- being NULL); a row that does not is left out, and the flag says that the oversized statement has work.
  IF cardinality(sizes_new) > 0 THEN
    over_new := format('greatest(0, %s) > %s', array_to_string(sizes_new, ', '), max_bytes);
    over_old := format('greatest(0, %s) > %s', array_to_string(sizes_old, ', '), max_bytes);
    over_both := format('greatest(0, %s, %s) > %s', array_to_string(sizes_old, ', '), array_to_string(sizes_new, ', '), max_bytes);
    fits_new := format('(NOT %s OR set_config(''auditrum.oversized'', ''on'', true) IS NULL)', over_new);
    fits_old := format('(NOT %s OR set_config(''auditrum.oversized'', ''on'', true) IS NULL)', over_old);
    fits_both := format('(NOT %s OR set_config(''auditrum.oversized'', ''on'', true) IS NULL)', over_both);
    -- A single-row UPDATE needs no flag: when its one row was not recorded, the marker statement looks at it.
    fits_one := format('NOT %s', over_both);
  END IF;

  -- «…» stand for the statement's parameters: plpgsql variables in the cached statements, $n in the bulk
  -- UPDATE that is planned afresh with the transition tables' real size.
  ins_sql := format('INSERT INTO %s.changes (%s) SELECT «ts», «xid», %s, ''INSERT'', %s, NULL, %s, «actor», «request», «ctx» FROM new_rows AS new%s WHERE %s AND %s',
    audit, columns_list, t.id, key_new, :AUDITRUM_SCHEMA._jsonb_object_sql(image_new), null_old, cond, fits_new);
  del_sql := format('INSERT INTO %s.changes (%s) SELECT «ts», «xid», %s, ''DELETE'', %s, %s, NULL, «actor», «request», «ctx» FROM old_rows AS old%s WHERE %s AND %s',
    audit, columns_list, t.id, key_old, :AUDITRUM_SCHEMA._jsonb_object_sql(image_old), null_new, cond, fits_old);
  upd_one_sql := format('INSERT INTO %s.changes (%s) SELECT «ts», «xid», %s, ''UPDATE'', %s, %s, %s, «actor», «request», «ctx» FROM old_rows AS old, new_rows AS new WHERE (%s) AND %s AND %s',
    audit, columns_list, t.id, key_new, array_to_string(diff_old, ' || '), array_to_string(diff_new, ' || '),
    array_to_string(changed, ' OR '), cond, fits_one);
  -- Transition tables hold old and new rows in the same order (PostgreSQL appends each pair together), so the
  -- ordinal pairs them even when the statement changed the key.
  upd_many_sql := replace(replace(upd_one_sql, 'FROM old_rows AS old, new_rows AS new',
    'FROM (SELECT row_number() OVER () AS "auditrum ordinal", * FROM old_rows) AS old JOIN (SELECT row_number() OVER () AS "auditrum ordinal", * FROM new_rows) AS new USING ("auditrum ordinal")'),
    fits_one, fits_both);

  -- Rows with a value over the size limit were left out above: these statements record them, each such value as
  -- a marker with its size and SHA-256. They run only then (after the flag, or when a single-row UPDATE recorded
  -- nothing), so their expressions are not set up at every statement.
  IF cardinality(sizes_new) > 0 THEN
    marked_ins := format('INSERT INTO %s.changes (%s) SELECT «ts», «xid», %s, ''INSERT'', %s, NULL, %s || %s, «actor», «request», «ctx» FROM new_rows AS new%s WHERE %s AND %s',
      audit, columns_list, t.id, key_new, :AUDITRUM_SCHEMA._jsonb_object_sql(slow_image_new),
      :AUDITRUM_SCHEMA._oversized_list_sql(marked_image_new), null_old, cond, over_new);
    marked_del := format('INSERT INTO %s.changes (%s) SELECT «ts», «xid», %s, ''DELETE'', %s, %s || %s, NULL, «actor», «request», «ctx» FROM old_rows AS old%s WHERE %s AND %s',
      audit, columns_list, t.id, key_old, :AUDITRUM_SCHEMA._jsonb_object_sql(slow_image_old),
      :AUDITRUM_SCHEMA._oversized_list_sql(marked_image_old), null_new, cond, over_old);
    marked_upd_one := format('INSERT INTO %s.changes (%s) SELECT «ts», «xid», %s, ''UPDATE'', %s, %s || %s, %s || %s, «actor», «request», «ctx» FROM old_rows AS old, new_rows AS new WHERE (%s) AND %s AND %s',
      audit, columns_list, t.id, key_new,
      array_to_string(slow_diff_old, ' || '), :AUDITRUM_SCHEMA._oversized_list_sql(marked_diff_old),
      array_to_string(slow_diff_new, ' || '), :AUDITRUM_SCHEMA._oversized_list_sql(marked_diff_new),
      array_to_string(changed, ' OR '), cond, over_both);
    marked_upd_many := replace(marked_upd_one, 'FROM old_rows AS old, new_rows AS new',
      'FROM (SELECT row_number() OVER () AS "auditrum ordinal", * FROM old_rows) AS old JOIN (SELECT row_number() OVER () AS "auditrum ordinal", * FROM new_rows) AS new USING ("auditrum ordinal")');
    marked_ins := format(E'\n    IF current_setting(''auditrum.oversized'', true) = ''on'' THEN\n      PERFORM set_config(''auditrum.oversized'', ''off'', true);\n      %s;\n    END IF;',
      :AUDITRUM_SCHEMA._bind_cached(marked_ins));
    marked_del := format(E'\n    IF current_setting(''auditrum.oversized'', true) = ''on'' THEN\n      PERFORM set_config(''auditrum.oversized'', ''off'', true);\n      %s;\n    END IF;',
      :AUDITRUM_SCHEMA._bind_cached(marked_del));
    marked_upd_one := format(E'\n      IF NOT FOUND THEN\n        %s;\n      END IF;',
      :AUDITRUM_SCHEMA._bind_cached(marked_upd_one));
    marked_upd_many := format(E'\n      IF current_setting(''auditrum.oversized'', true) = ''on'' THEN\n        PERFORM set_config(''auditrum.oversized'', ''off'', true);\n        EXECUTE %L USING statement_timestamp(), txid_current(), actor, request, ctx, mask_ikey, mask_okey;\n      END IF;',
      :AUDITRUM_SCHEMA._bind(marked_upd_many, true));
  END IF;

  RETURN format($f$CREATE OR REPLACE FUNCTION %1$s.%2$I() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $auditrum$
-- Generated by Auditrum for %3$s; regenerated by auditrum.track(), on ALTER TABLE and when the application
-- roles change. Do not edit.
#variable_conflict use_column
<<auditrum_capture>>
DECLARE
  head text := split_part(current_query(), '*/', 1);
  ctx jsonb;
  actor text;
  request text;
  mask_ikey bytea;
  mask_okey bytea;
BEGIN
  -- The context arrives as a comment that Auditrum's pg instrumentation puts first in the statement: no
  -- extra round trip and no session state, so it works behind PgBouncer and pinning proxies. One parse in
  -- a subtransaction costs less than pg_input_is_valid() and a second parse; a bad comment never fails
  -- the write (OTHERS leaves out query cancellation).
  -- (16,395 bytes of head: the 11 of the prefix and at most 16,384 of JSON.)
  IF starts_with(head, '/*auditrum:') AND octet_length(head) <= 16395 THEN
    BEGIN
      ctx := substr(head, 12)::jsonb;
    EXCEPTION WHEN OTHERS THEN
      ctx := NULL;
    END;
  END IF;
  IF ctx IS NULL OR jsonb_typeof(ctx) <> 'object' THEN
    ctx := jsonb_build_object('source', 'db', 'db_user', session_user, 'application_name',
      current_setting('application_name'), 'client_addr', inet_client_addr());
  -- Only the application's roles are believed: the login role (SET ROLE cannot change it) is compared with
  -- their names. Anyone else's comment is kept as what it claims, beside who really wrote.
  ELSIF %11$s THEN
    actor := ctx->>'actor_id';
    request := ctx->>'request_id';
    ctx := ctx - '{actor_id,request_id}'::text[];
  ELSE
    ctx := jsonb_build_object('source', 'db', 'db_user', session_user, 'application_name',
      current_setting('application_name'), 'client_addr', inet_client_addr(), 'claimed', ctx);
  END IF;%4$s
  -- An UPDATE pairs old and new rows: a cached nested loop for one row (the common case, checked first), a
  -- plan made for the real row count otherwise. Rows with a value over the size limit are left out of these
  -- statements and recorded after them, only then.
  IF TG_OP = 'UPDATE' THEN
    IF NOT EXISTS (SELECT FROM old_rows OFFSET 1) THEN
      %9$s;%14$s
    ELSE
      EXECUTE %10$L USING statement_timestamp(), txid_current(), actor, request, ctx, mask_ikey, mask_okey;%15$s
    END IF;
  -- INSERT and DELETE read one transition table: the same cached plan fits one row or a million.
  ELSIF TG_OP = 'INSERT' THEN
    %7$s;%12$s
  ELSIF TG_OP = 'DELETE' THEN
    %8$s;%13$s
  ELSE
    INSERT INTO %1$s.changes (%5$s) VALUES (statement_timestamp(), txid_current(), %6$s, 'TRUNCATE', NULL, NULL, NULL, actor, request, ctx);
  END IF;
  RETURN NULL;
END;
$auditrum$$f$,
    audit, 'capture_' || t.id, rel,
    CASE WHEN has_mask THEN format(E'\n  SELECT s.mask_ikey, s.mask_okey INTO mask_ikey, mask_okey FROM %s.settings s;', audit) ELSE '' END,
    columns_list, t.id,
    :AUDITRUM_SCHEMA._bind_cached(ins_sql), :AUDITRUM_SCHEMA._bind_cached(del_sql), :AUDITRUM_SCHEMA._bind_cached(upd_one_sql),
    :AUDITRUM_SCHEMA._bind(upd_many_sql, true), trusted, marked_ins, marked_del, marked_upd_one, marked_upd_many);
END;
$gen$;

-- Rules as names, for status, sync and people (max_value_bytes only when not the default).
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._rules_json(t :AUDITRUM_SCHEMA.tracked_tables) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object(
    'key', :AUDITRUM_SCHEMA._column_names(t.relid, t.key_attnums),
    'only', CASE WHEN t.only_attnums IS NOT NULL THEN :AUDITRUM_SCHEMA._column_names(t.relid, t.only_attnums) END,
    'exclude', CASE WHEN cardinality(t.exclude_attnums) > 0 THEN :AUDITRUM_SCHEMA._column_names(t.relid, t.exclude_attnums) END,
    'mask', CASE WHEN cardinality(t.mask_attnums) > 0 THEN :AUDITRUM_SCHEMA._column_names(t.relid, t.mask_attnums) END,
    'mask_mode', CASE WHEN cardinality(t.mask_attnums) > 0 THEN t.mask_mode END,
    'when', t.when_condition,
    'max_value_bytes', t.max_value_bytes))
$$;

-- The `max_value_bytes` rule: a whole number of bytes from 1 to 134,217,727 (under half jsonb's 256 MB, so that
-- a bytea's hex form fits too), or NULL for the default.
CREATE FUNCTION :AUDITRUM_SCHEMA._max_value_bytes(target regclass, rule jsonb) RETURNS integer
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF rule IS NULL OR jsonb_typeof(rule) = 'null' THEN
    RETURN NULL;
  END IF;
  IF jsonb_typeof(rule) <> 'number' OR rule::numeric <> trunc(rule::numeric) OR rule::numeric < 1
    OR rule::numeric > 134217727 THEN
    RAISE EXCEPTION 'auditrum: rule "max_value_bytes" for table % must be a whole number of bytes from 1 to 134217727, not %',
      target, rule USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN rule::integer;
END;
$$;

/**
 * Starts (or updates) auditing of a table. Rules: only, exclude (column lists, not both), mask (column list),
 * mask_mode ('hash' or 'marker'), key (column list; default the primary key), when (SQL boolean over NEW and OLD),
 * max_value_bytes (values larger than this are recorded as a marker with their size and SHA-256; default 1 MiB).
 * Idempotent: the same rules again change nothing. Returns {table_id, action, ddl}.
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA.track(target regclass, rules jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  unknown text;
  rel_schema text;
  rel_name text;
  rel_kind "char";
  key_nums smallint[];
  only_nums smallint[];
  exclude_nums smallint[];
  mask_nums smallint[];
  mode text := coalesce(rules->>'mask_mode', 'hash');
  condition text := nullif(rules->>'when', '');
  max_bytes integer;
  existing :AUDITRUM_SCHEMA.tracked_tables;
  saved_id integer;
  ddl text;
BEGIN
  IF rules IS NULL OR jsonb_typeof(rules) <> 'object' THEN
    RAISE EXCEPTION 'auditrum: rules for table % must be a JSON object', target USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT string_agg(format('"%s"', k), ', ') INTO unknown FROM jsonb_object_keys(rules) k
  WHERE k NOT IN ('only', 'exclude', 'mask', 'mask_mode', 'key', 'when', 'max_value_bytes');
  IF unknown IS NOT NULL THEN
    RAISE EXCEPTION 'auditrum: unknown rule % for table % (known: only, exclude, mask, mask_mode, key, when, max_value_bytes)', unknown, target
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT n.nspname, c.relname, c.relkind INTO rel_schema, rel_name, rel_kind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target;
  IF rel_kind NOT IN ('r', 'p') THEN
    RAISE EXCEPTION 'auditrum: % is not a table', target USING ERRCODE = 'wrong_object_type';
  END IF;
  IF rel_schema = :'AUDITRUM_SCHEMA' THEN
    RAISE EXCEPTION 'auditrum: % belongs to Auditrum itself and cannot be tracked', target USING ERRCODE = 'wrong_object_type';
  END IF;
  IF jsonb_typeof(rules->'only') = 'array' AND jsonb_typeof(rules->'exclude') = 'array' THEN
    RAISE EXCEPTION 'auditrum: give "only" or "exclude" for table %, not both', target USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF mode NOT IN ('hash', 'marker') THEN
    RAISE EXCEPTION 'auditrum: mask_mode for table % must be "hash" or "marker", not "%"', target, mode
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  max_bytes := :AUDITRUM_SCHEMA._max_value_bytes(target, rules->'max_value_bytes');
  only_nums := :AUDITRUM_SCHEMA._attnums(target, rules->'only', 'only');
  exclude_nums := coalesce(:AUDITRUM_SCHEMA._attnums(target, rules->'exclude', 'exclude'), '{}');
  mask_nums := coalesce(:AUDITRUM_SCHEMA._attnums(target, rules->'mask', 'mask'), '{}');
  key_nums := :AUDITRUM_SCHEMA._attnums(target, rules->'key', 'key');
  IF key_nums IS NULL THEN
    SELECT array_agg(k.attnum ORDER BY k.ord) INTO key_nums
    FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    WHERE i.indrelid = target AND i.indisprimary;
  END IF;
  IF key_nums IS NULL OR cardinality(key_nums) = 0 THEN
    RAISE EXCEPTION 'auditrum: table % has no primary key; give its key columns (rule "key")', target
      USING ERRCODE = 'invalid_table_definition';
  END IF;
  IF key_nums && mask_nums THEN
    RAISE EXCEPTION 'auditrum: key columns of table % cannot be masked', target USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM :AUDITRUM_SCHEMA._check_when(target, condition);

  SELECT * INTO existing FROM :AUDITRUM_SCHEMA.tracked_tables
  WHERE (relid = target AND untracked_at IS NULL) OR (schema_name = rel_schema AND table_name = rel_name)
  ORDER BY untracked_at NULLS FIRST LIMIT 1;
  IF existing.id IS NULL THEN
    INSERT INTO :AUDITRUM_SCHEMA.tracked_tables (relid, schema_name, table_name, key_attnums, only_attnums,
      exclude_attnums, mask_attnums, mask_mode, when_condition, max_value_bytes, rules, function_checksum)
    VALUES (target, rel_schema, rel_name, key_nums, only_nums, exclude_nums, mask_nums, mode, condition, max_bytes, '{}', '')
    RETURNING id INTO saved_id;
  ELSE
    saved_id := existing.id;
    UPDATE :AUDITRUM_SCHEMA.tracked_tables SET relid = target, schema_name = rel_schema, table_name = rel_name,
      key_attnums = key_nums, only_attnums = only_nums, exclude_attnums = exclude_nums, mask_attnums = mask_nums,
      mask_mode = mode, when_condition = condition, max_value_bytes = max_bytes, untracked_at = NULL
    WHERE id = saved_id;
  END IF;
  UPDATE :AUDITRUM_SCHEMA.tracked_tables t SET rules = :AUDITRUM_SCHEMA._rules_json(t) WHERE id = saved_id;
  ddl := :AUDITRUM_SCHEMA._install(saved_id);
  RETURN jsonb_build_object('table_id', saved_id,
    'action', CASE WHEN existing.id IS NULL OR existing.untracked_at IS NOT NULL THEN 'tracked'
                   WHEN ddl = '' THEN 'unchanged' ELSE 'updated' END,
    'ddl', ddl);
END;
$$;

-- changed_columns leaves out the key "" that lists oversized values.
CREATE OR REPLACE VIEW :AUDITRUM_SCHEMA.change_log AS
SELECT c.id, c.changed_at, c.txid, t.schema_name, t.table_name, c.operation, c.row_key,
  c.old_values, c.new_values,
  CASE WHEN c.operation = 'UPDATE' THEN ARRAY(SELECT k FROM jsonb_object_keys(c.new_values) k WHERE k <> '') END AS changed_columns,
  c.actor_id, c.request_id, c.context, c.table_id
FROM :AUDITRUM_SCHEMA.changes c
JOIN :AUDITRUM_SCHEMA.tracked_tables t ON t.id = c.table_id;

-- Tables tracked before version 4 get the trust check and the size limit.
SELECT :AUDITRUM_SCHEMA._reinstall_all();
