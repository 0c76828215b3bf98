-- Auditrum schema, version 1: the change log, the tracked-table registry and the capture-trigger generator.

CREATE TABLE :AUDITRUM_SCHEMA.settings (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  -- HMAC-SHA256 inner and outer padded keys for masked columns (key XOR ipad, key XOR opad), so triggers hash
  -- without pgcrypto. Readable only by the schema owner.
  mask_ikey bytea NOT NULL,
  mask_okey bytea NOT NULL
);
INSERT INTO :AUDITRUM_SCHEMA.settings (mask_ikey, mask_okey)
SELECT
  (SELECT string_agg(decode(lpad(to_hex(get_byte(k, i) # 54), 2, '0'), 'hex'), '' ORDER BY i) FROM generate_series(0, 63) i),
  (SELECT string_agg(decode(lpad(to_hex(get_byte(k, i) # 92), 2, '0'), 'hex'), '' ORDER BY i) FROM generate_series(0, 63) i)
FROM (SELECT sha256(convert_to(gen_random_uuid()::text || clock_timestamp()::text || random()::text, 'UTF8'))
        || sha256(convert_to(gen_random_uuid()::text || random()::text, 'UTF8')) AS k) key;

CREATE TABLE :AUDITRUM_SCHEMA.tracked_tables (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  relid oid NOT NULL,
  schema_name text NOT NULL,
  table_name text NOT NULL,
  -- Column rules by attribute number, so that a renamed column keeps its rule.
  key_attnums smallint[] NOT NULL,
  only_attnums smallint[],
  exclude_attnums smallint[] NOT NULL DEFAULT '{}',
  mask_attnums smallint[] NOT NULL DEFAULT '{}',
  mask_mode text NOT NULL DEFAULT 'hash' CHECK (mask_mode IN ('hash', 'marker')),
  when_condition text,
  -- The rules as names, kept current on rename; what status and sync compare.
  rules jsonb NOT NULL,
  function_checksum text NOT NULL,
  tracked_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  untracked_at timestamptz,
  UNIQUE (schema_name, table_name)
);
CREATE UNIQUE INDEX tracked_tables_relid_idx ON :AUDITRUM_SCHEMA.tracked_tables (relid) WHERE untracked_at IS NULL;

CREATE TABLE :AUDITRUM_SCHEMA.changes (
  -- The sequence has no cache, so ids follow call order across sessions and one row's history sorts by id.
  id bigserial NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT statement_timestamp(),
  txid bigint NOT NULL DEFAULT txid_current(),
  table_id integer NOT NULL,
  operation text NOT NULL,
  row_key text,
  old_values jsonb,
  new_values jsonb,
  actor_id text,
  request_id text,
  context jsonb,
  PRIMARY KEY (id, changed_at)
) PARTITION BY RANGE (changed_at);
CREATE TABLE :AUDITRUM_SCHEMA.changes_default PARTITION OF :AUDITRUM_SCHEMA.changes DEFAULT;
CREATE INDEX changes_row_idx ON :AUDITRUM_SCHEMA.changes (table_id, row_key, id);
CREATE INDEX changes_request_idx ON :AUDITRUM_SCHEMA.changes (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX changes_actor_idx ON :AUDITRUM_SCHEMA.changes (actor_id, id) WHERE actor_id IS NOT NULL;

-- A view with names instead of ids, for people reading the log with SQL.
CREATE VIEW :AUDITRUM_SCHEMA.change_log AS
SELECT c.id, c.changed_at, c.txid, t.schema_name, t.table_name, c.operation, c.row_key,
  c.old_values, c.new_values,
  CASE WHEN c.operation = 'UPDATE' THEN ARRAY(SELECT jsonb_object_keys(c.new_values)) END AS changed_columns,
  c.actor_id, c.request_id, c.context, c.table_id
FROM :AUDITRUM_SCHEMA.changes c
JOIN :AUDITRUM_SCHEMA.tracked_tables t ON t.id = c.table_id;

-- Types whose `=` holds exactly when the stored values print the same; other columns are compared as text
-- (json and point have no `=`, citext ignores case, interval '1 day' = '24 hours').
CREATE FUNCTION :AUDITRUM_SCHEMA._compares_by_equality(typ oid) RETURNS boolean
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT typ IN ('bool'::regtype, 'int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'text'::regtype,
    'varchar'::regtype, 'bpchar'::regtype, 'uuid'::regtype, 'date'::regtype, 'timestamp'::regtype,
    'timestamptz'::regtype, 'time'::regtype, 'bytea'::regtype, 'jsonb'::regtype, 'oid'::regtype, 'name'::regtype)
    OR EXISTS (SELECT 1 FROM pg_type WHERE oid = typ AND typtype = 'e')
$$;

-- Resolves a rule's column names to attribute numbers, naming the first unknown column.
CREATE FUNCTION :AUDITRUM_SCHEMA._attnums(target regclass, names jsonb, rule text) RETURNS smallint[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  result smallint[] := '{}';
  col text;
  num smallint;
BEGIN
  IF names IS NULL OR jsonb_typeof(names) = 'null' THEN
    RETURN NULL;
  END IF;
  IF jsonb_typeof(names) <> 'array' THEN
    RAISE EXCEPTION 'auditrum: rule "%" for table % must be a list of column names', rule, target
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR col IN SELECT value FROM jsonb_array_elements_text(names) LOOP
    SELECT attnum INTO num FROM pg_attribute
    WHERE attrelid = target AND attname = col AND attnum > 0 AND NOT attisdropped;
    IF num IS NULL THEN
      RAISE EXCEPTION 'auditrum: column "%" of table % does not exist (in rule "%")', col, target, rule
        USING ERRCODE = 'undefined_column';
    END IF;
    result := result || num;
  END LOOP;
  RETURN result;
END;
$$;

CREATE FUNCTION :AUDITRUM_SCHEMA._column_names(target oid, attnums smallint[]) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(jsonb_agg(attname ORDER BY ord), '[]'::jsonb)
  FROM unnest(attnums) WITH ORDINALITY AS a(num, ord)
  JOIN pg_attribute ON attrelid = target AND attnum = a.num AND NOT attisdropped
$$;

-- The capture function of one tracked table, as a CREATE OR REPLACE statement. Generated per table, with the
-- column list spelled out, because set-based SQL over known columns is what keeps the per-row cost low; it is
-- regenerated on ALTER TABLE by the event trigger below.
CREATE FUNCTION :AUDITRUM_SCHEMA._capture_function_sql(t :AUDITRUM_SCHEMA.tracked_tables) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $gen$
DECLARE
  audit text := quote_ident(:'AUDITRUM_SCHEMA');
  rel text := format('%I.%I', t.schema_name, t.table_name);
  col record;
  image_new text[] := '{}';
  image_old text[] := '{}';
  diff_old text[] := '{}';
  diff_new text[] := '{}';
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
BEGIN
  FOR col IN
    SELECT a.attnum, a.attname, a.atttypid,
      (a.attnum = ANY (t.mask_attnums)) AS masked,
      :AUDITRUM_SCHEMA._compares_by_equality(a.atttypid) AS by_equality
    FROM pg_attribute a
    WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
      AND (t.only_attnums IS NULL OR a.attnum = ANY (t.only_attnums))
      AND NOT (a.attnum = ANY (t.exclude_attnums))
    ORDER BY a.attnum
  LOOP
    -- «v» stands for the row alias (old or new); masked values become a keyed hash or a marker.
    DECLARE
      v text := CASE
        WHEN NOT col.masked THEN format('«v».%I', col.attname)
        WHEN t.mask_mode = 'marker' THEN format('CASE WHEN «v».%I IS NULL THEN NULL ELSE ''[masked]'' END', col.attname)
        ELSE format('CASE WHEN «v».%1$I IS NULL THEN NULL ELSE ''hmac:'' || left(encode(sha256(«okey» || sha256(«ikey» || convert_to(«v».%1$I::text, ''UTF8''))), ''hex''), 32) END', col.attname)
      END;
      pair_new text := format('%L, %s', col.attname, replace(v, '«v»', 'new'));
      pair_old text := format('%L, %s', col.attname, replace(v, '«v»', 'old'));
      chg text := CASE WHEN col.by_equality
        THEN format('old.%1$I IS DISTINCT FROM new.%1$I', col.attname)
        ELSE format('old.%1$I::text IS DISTINCT FROM new.%1$I::text', col.attname) END;
    BEGIN
      image_new := image_new || pair_new;
      image_old := image_old || pair_old;
      changed := changed || chg;
      diff_old := diff_old || format('CASE WHEN %s THEN jsonb_build_object(%s) ELSE ''{}''::jsonb END', chg, pair_old);
      diff_new := diff_new || format('CASE WHEN %s THEN jsonb_build_object(%s) ELSE ''{}''::jsonb END', chg, pair_new);
    END;
  END LOOP;
  IF cardinality(changed) = 0 THEN
    RAISE EXCEPTION 'auditrum: no column of table % is left to track', rel USING ERRCODE = 'invalid_parameter_value';
  END IF;

  SELECT array_agg(format('new.%I', a.attname) ORDER BY k.ord), array_agg(format('old.%I', a.attname) ORDER BY k.ord)
  INTO key_parts_new, key_parts_old
  FROM unnest(t.key_attnums) WITH ORDINALITY AS k(num, ord)
  JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum = k.num AND NOT a.attisdropped;
  IF coalesce(cardinality(key_parts_new), 0) <> cardinality(t.key_attnums) THEN
    RAISE EXCEPTION 'auditrum: a key column of table % no longer exists; untrack the table or give other key columns', rel
      USING ERRCODE = 'invalid_table_definition';
  END IF;
  IF cardinality(key_parts_new) = 1 THEN
    key_new := key_parts_new[1] || '::text';
    key_old := key_parts_old[1] || '::text';
  ELSE
    key_new := format('jsonb_build_array(%s)::text', array_to_string(key_parts_new, ', '));
    key_old := format('jsonb_build_array(%s)::text', array_to_string(key_parts_old, ', '));
  END IF;

  IF t.when_condition IS NOT NULL THEN
    null_old := format(', (SELECT (NULL::%s).*) AS old', rel);
    null_new := format(', (SELECT (NULL::%s).*) AS new', rel);
  END IF;

  -- «…» stand for the statement's parameters: plpgsql variables in the cached statements, $n in the bulk
  -- UPDATE that is planned afresh with the transition tables' real size.
  ins_sql := format('INSERT INTO %s.changes (%s) SELECT «ts», «xid», %s, ''INSERT'', %s, NULL, %s, «actor», «request», «ctx» FROM new_rows AS new%s WHERE %s',
    audit, columns_list, t.id, key_new, :AUDITRUM_SCHEMA._jsonb_object_sql(image_new), null_old, cond);
  del_sql := format('INSERT INTO %s.changes (%s) SELECT «ts», «xid», %s, ''DELETE'', %s, %s, NULL, «actor», «request», «ctx» FROM old_rows AS old%s WHERE %s',
    audit, columns_list, t.id, key_old, :AUDITRUM_SCHEMA._jsonb_object_sql(image_old), null_new, cond);
  upd_one_sql := format('INSERT INTO %s.changes (%s) SELECT «ts», «xid», %s, ''UPDATE'', %s, %s, %s, «actor», «request», «ctx» FROM old_rows AS old, new_rows AS new WHERE (%s) AND %s',
    audit, columns_list, t.id, key_new, array_to_string(diff_old, ' || '), array_to_string(diff_new, ' || '),
    array_to_string(changed, ' OR '), cond);
  -- Transition tables hold old and new rows in the same order (PostgreSQL appends each pair together), so the
  -- ordinal pairs them even when the statement changed the key.
  upd_many_sql := replace(upd_one_sql, 'FROM old_rows AS old, new_rows AS new',
    'FROM (SELECT row_number() OVER () AS "auditrum ordinal", * FROM old_rows) AS old JOIN (SELECT row_number() OVER () AS "auditrum ordinal", * FROM new_rows) AS new USING ("auditrum ordinal")');

  RETURN format($f$CREATE OR REPLACE FUNCTION %1$s.%2$I() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $auditrum$
-- Generated by Auditrum for %3$s; regenerated by auditrum.track() and on ALTER TABLE. Do not edit.
#variable_conflict use_column
<<auditrum_capture>>
DECLARE
  query text := current_query();
  ctx_text text;
  ctx jsonb;
  actor text;
  request text;
  ts timestamptz := statement_timestamp();
  xid bigint := txid_current();
  mask_ikey bytea;
  mask_okey bytea;
BEGIN
  -- The context arrives as a comment that Auditrum's pg instrumentation puts first in the statement: no
  -- extra round trip and no session state, so it works behind PgBouncer and pinning proxies. One parse in
  -- a subtransaction costs less than pg_input_is_valid() and a second parse; a bad comment never fails
  -- the write (OTHERS leaves out query cancellation).
  IF starts_with(query, '/*auditrum:') THEN
    ctx_text := substr(split_part(query, '*/', 1), 12);
    IF octet_length(ctx_text) <= 16384 THEN
      BEGIN
        ctx := ctx_text::jsonb;
      EXCEPTION WHEN OTHERS THEN
        ctx := NULL;
      END;
    END IF;
  END IF;
  IF ctx IS NULL OR jsonb_typeof(ctx) <> 'object' THEN
    ctx := jsonb_build_object('source', 'db', 'db_user', session_user, 'application_name',
      current_setting('application_name'), 'client_addr', inet_client_addr());
  ELSE
    actor := ctx->>'actor_id';
    request := ctx->>'request_id';
    ctx := ctx - '{actor_id,request_id}'::text[];
  END IF;%4$s
  IF TG_OP = 'TRUNCATE' THEN
    INSERT INTO %1$s.changes (%5$s) VALUES (ts, xid, %6$s, 'TRUNCATE', NULL, NULL, NULL, actor, request, ctx);
    RETURN NULL;
  END IF;
  -- INSERT and DELETE read one transition table: the same cached plan fits one row or a million.
  IF TG_OP = 'INSERT' THEN
    %7$s;
  ELSIF TG_OP = 'DELETE' THEN
    %8$s;
  -- An UPDATE pairs old and new rows: a cached nested loop for one row (the common case, checked first), a
  -- plan made for the real row count otherwise.
  ELSIF NOT EXISTS (SELECT FROM old_rows OFFSET 1) THEN
    %9$s;
  ELSE
    EXECUTE %10$L USING ts, xid, actor, request, ctx, mask_ikey, mask_okey;
  END IF;
  RETURN NULL;
END;
$auditrum$$f$,
    audit, 'capture_' || t.id, rel,
    CASE WHEN has_mask THEN format(E'\n  SELECT s.mask_ikey, s.mask_okey INTO mask_ikey, mask_okey FROM %s.settings s;', audit) ELSE '' END,
    columns_list, t.id,
    :AUDITRUM_SCHEMA._bind(ins_sql, false), :AUDITRUM_SCHEMA._bind(del_sql, false), :AUDITRUM_SCHEMA._bind(upd_one_sql, false),
    :AUDITRUM_SCHEMA._bind(upd_many_sql, true));
END;
$gen$;

-- jsonb_build_object takes at most 100 arguments: wide tables are built 50 columns at a time.
CREATE FUNCTION :AUDITRUM_SCHEMA._jsonb_object_sql(pairs text[]) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT string_agg(format('jsonb_build_object(%s)', chunk), ' || ')
  FROM (
    SELECT string_agg(pair, ', ' ORDER BY i) AS chunk
    FROM unnest(pairs) WITH ORDINALITY AS p(pair, i)
    GROUP BY (i - 1) / 50
  ) chunks
$$;

-- Fills the placeholders of a capture statement with plpgsql variables (cached statements) or $n (EXECUTE).
CREATE FUNCTION :AUDITRUM_SCHEMA._bind(statement text, dynamic boolean) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT replace(replace(replace(replace(replace(replace(replace(statement,
    '«ts»', CASE WHEN dynamic THEN '$1' ELSE 'auditrum_capture.ts' END),
    '«xid»', CASE WHEN dynamic THEN '$2' ELSE 'auditrum_capture.xid' END),
    '«actor»', CASE WHEN dynamic THEN '$3' ELSE 'auditrum_capture.actor' END),
    '«request»', CASE WHEN dynamic THEN '$4' ELSE 'auditrum_capture.request' END),
    '«ctx»', CASE WHEN dynamic THEN '$5' ELSE 'auditrum_capture.ctx' END),
    '«ikey»', CASE WHEN dynamic THEN '$6' ELSE 'auditrum_capture.mask_ikey' END),
    '«okey»', CASE WHEN dynamic THEN '$7' ELSE 'auditrum_capture.mask_okey' END)
$$;

-- Rules as names, for status, sync and people.
CREATE FUNCTION :AUDITRUM_SCHEMA._rules_json(t :AUDITRUM_SCHEMA.tracked_tables) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object(
    'key', :AUDITRUM_SCHEMA._column_names(t.relid, t.key_attnums),
    'only', CASE WHEN t.only_attnums IS NOT NULL THEN :AUDITRUM_SCHEMA._column_names(t.relid, t.only_attnums) END,
    'exclude', CASE WHEN cardinality(t.exclude_attnums) > 0 THEN :AUDITRUM_SCHEMA._column_names(t.relid, t.exclude_attnums) END,
    'mask', CASE WHEN cardinality(t.mask_attnums) > 0 THEN :AUDITRUM_SCHEMA._column_names(t.relid, t.mask_attnums) END,
    'mask_mode', CASE WHEN cardinality(t.mask_attnums) > 0 THEN t.mask_mode END,
    'when', t.when_condition))
$$;

-- Checks a `when` condition against the table by planning it; the error names the table.
CREATE FUNCTION :AUDITRUM_SCHEMA._check_when(target regclass, condition text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF condition IS NULL THEN
    RETURN;
  END IF;
  IF position(';' IN condition) > 0 OR position('$auditrum$' IN condition) > 0 THEN
    RAISE EXCEPTION 'auditrum: invalid "when" condition for table %: it must be one SQL expression, without ";"', target
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  BEGIN
    EXECUTE format('SELECT 1 FROM %1$s AS new, %1$s AS old WHERE (%2$s) LIMIT 0', target, condition);
  EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'auditrum: invalid "when" condition for table %: %', target, SQLERRM
      USING ERRCODE = 'invalid_parameter_value';
  END;
END;
$$;

-- Installs (or replaces) the capture function and its four statement triggers for a registry row; returns the DDL
-- that it ran, or '' when everything was already in place.
CREATE FUNCTION :AUDITRUM_SCHEMA._install(table_id integer) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t :AUDITRUM_SCHEMA.tracked_tables;
  rel text;
  function_sql text;
  checksum text;
  ddl text := '';
  op text;
  trigger_name text;
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
  FOREACH op IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
    trigger_name := left(:'AUDITRUM_SCHEMA', 40) || '_capture_' || op;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = t.relid AND tgname = trigger_name) THEN
      ddl := ddl || format(E'CREATE TRIGGER %I AFTER %s ON %s%s FOR EACH STATEMENT EXECUTE FUNCTION %I.%I();\n',
        trigger_name, upper(op), rel,
        CASE op
          WHEN 'insert' THEN ' REFERENCING NEW TABLE AS new_rows'
          WHEN 'update' THEN ' REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
          WHEN 'delete' THEN ' REFERENCING OLD TABLE AS old_rows'
          ELSE '' END,
        :'AUDITRUM_SCHEMA', 'capture_' || t.id);
    END IF;
  END LOOP;
  IF ddl LIKE '%CREATE TRIGGER%' THEN
    EXECUTE substr(ddl, strpos(ddl, 'CREATE TRIGGER'));
  END IF;
  RETURN ddl;
END;
$$;

/**
 * Starts (or updates) auditing of a table. Rules: only, exclude (column lists, not both), mask (column list),
 * mask_mode ('hash' or 'marker'), key (column list; default the primary key), when (SQL boolean over NEW and OLD).
 * Idempotent: the same rules again change nothing. Returns {table_id, action, ddl}.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.track(target regclass, rules jsonb DEFAULT '{}') RETURNS jsonb
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
  existing :AUDITRUM_SCHEMA.tracked_tables;
  saved_id integer;
  ddl text;
BEGIN
  IF rules IS NULL OR jsonb_typeof(rules) <> 'object' THEN
    RAISE EXCEPTION 'auditrum: rules for table % must be a JSON object', target USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT string_agg(format('"%s"', k), ', ') INTO unknown FROM jsonb_object_keys(rules) k
  WHERE k NOT IN ('only', 'exclude', 'mask', 'mask_mode', 'key', 'when');
  IF unknown IS NOT NULL THEN
    RAISE EXCEPTION 'auditrum: unknown rule % for table % (known: only, exclude, mask, mask_mode, key, when)', unknown, target
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
      exclude_attnums, mask_attnums, mask_mode, when_condition, rules, function_checksum)
    VALUES (target, rel_schema, rel_name, key_nums, only_nums, exclude_nums, mask_nums, mode, condition, '{}', '')
    RETURNING id INTO saved_id;
  ELSE
    saved_id := existing.id;
    UPDATE :AUDITRUM_SCHEMA.tracked_tables SET relid = target, schema_name = rel_schema, table_name = rel_name,
      key_attnums = key_nums, only_attnums = only_nums, exclude_attnums = exclude_nums, mask_attnums = mask_nums,
      mask_mode = mode, when_condition = condition, untracked_at = NULL
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

/** Stops auditing a table. Its history stays, under the same table id if it is tracked again. */
CREATE FUNCTION :AUDITRUM_SCHEMA.untrack(target regclass) RETURNS jsonb
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
  EXECUTE ddl;
  UPDATE :AUDITRUM_SCHEMA.tracked_tables SET untracked_at = now(), function_checksum = '' WHERE id = t.id;
  RETURN jsonb_build_object('table_id', t.id, 'action', 'untracked', 'ddl', ddl);
END;
$$;

-- The attribute numbers of a rule that are still columns of the table (NULL, "no only rule", stays NULL).
CREATE FUNCTION :AUDITRUM_SCHEMA._still_present(nums smallint[], live smallint[]) RETURNS smallint[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN nums IS NOT NULL THEN ARRAY(SELECT a FROM unnest(nums) a WHERE a = ANY (live)) END
$$;

-- After ALTER TABLE on a tracked table: follow renames (rules are kept by attribute number), forget dropped
-- columns, and regenerate the capture function, in the transaction of the DDL. A change that would break
-- auditing (dropping a key column, or a column the "when" condition needs) fails the DDL with the reason.
CREATE FUNCTION :AUDITRUM_SCHEMA._follow_ddl() RETURNS event_trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t :AUDITRUM_SCHEMA.tracked_tables;
  live smallint[];
BEGIN
  FOR t IN
    SELECT tt.* FROM :AUDITRUM_SCHEMA.tracked_tables tt
    WHERE tt.untracked_at IS NULL
      AND tt.relid IN (SELECT objid FROM pg_event_trigger_ddl_commands() WHERE classid = 'pg_class'::regclass)
  LOOP
    SELECT array_agg(attnum) INTO live FROM pg_attribute WHERE attrelid = t.relid AND attnum > 0 AND NOT attisdropped;
    UPDATE :AUDITRUM_SCHEMA.tracked_tables tt SET
      schema_name = n.nspname, table_name = c.relname,
      only_attnums = :AUDITRUM_SCHEMA._still_present(tt.only_attnums, live),
      exclude_attnums = :AUDITRUM_SCHEMA._still_present(tt.exclude_attnums, live),
      mask_attnums = :AUDITRUM_SCHEMA._still_present(tt.mask_attnums, live)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE tt.id = t.id AND c.oid = t.relid;
    PERFORM :AUDITRUM_SCHEMA._check_when(t.relid::regclass, t.when_condition);
    UPDATE :AUDITRUM_SCHEMA.tracked_tables tt SET rules = :AUDITRUM_SCHEMA._rules_json(tt) WHERE id = t.id;
    PERFORM :AUDITRUM_SCHEMA._install(t.id);
  END LOOP;
END;
$$;

-- Event triggers need a superuser (or, on managed services, their admin role). Without one, tracking still
-- works; `auditrum status` reports that ALTER TABLE is not followed and `auditrum sync` regenerates.
DO $$
BEGIN
  EXECUTE format('CREATE EVENT TRIGGER %I ON ddl_command_end WHEN TAG IN (''ALTER TABLE'') EXECUTE FUNCTION %I._follow_ddl()',
    left(:'AUDITRUM_SCHEMA', 40) || '_follow_ddl', :'AUDITRUM_SCHEMA');
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE 'auditrum: no privilege to create an event trigger; ALTER TABLE on tracked tables will need "auditrum sync"';
END;
$$;

-- Checks a months-ahead argument and takes the lock that serialises partition maintenance: several app
-- instances may run it at start-up.
CREATE FUNCTION :AUDITRUM_SCHEMA._lock_partitions(months_ahead integer) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 120 THEN
    RAISE EXCEPTION 'auditrum: months ahead must be between 0 and 120, not %', months_ahead
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended('auditrum.partitions:' || :'AUDITRUM_SCHEMA', 0));
END;
$$;

-- Creates the monthly partitions of one log table from the current month (UTC) to `months_ahead` months ahead,
-- moving rows that already landed in its default partition for such a month; returns the names it created.
-- The caller holds the partitions lock (_lock_partitions).
CREATE FUNCTION :AUDITRUM_SCHEMA._ensure_monthly_partitions(parent text, time_column text, months_ahead integer)
RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  audit text := quote_ident(:'AUDITRUM_SCHEMA');
  month_start timestamptz;
  month_end timestamptz;
  part text;
  created text[] := '{}';
BEGIN
  FOR i IN 0..months_ahead LOOP
    month_start := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i)) AT TIME ZONE 'UTC';
    month_end := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i + 1)) AT TIME ZONE 'UTC';
    part := parent || '_p' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM');
    CONTINUE WHEN to_regclass(format('%s.%I', audit, part)) IS NOT NULL;
    EXECUTE format('CREATE TABLE %1$s.%2$I (LIKE %1$s.%3$I INCLUDING DEFAULTS)', audit, part, parent);
    EXECUTE format('WITH moved AS (DELETE FROM %1$s.%3$I WHERE %4$I >= $1 AND %4$I < $2 RETURNING *)
      INSERT INTO %1$s.%2$I SELECT * FROM moved', audit, part, parent || '_default', time_column)
      USING month_start, month_end;
    EXECUTE format('ALTER TABLE %1$s.%3$I ATTACH PARTITION %1$s.%2$I FOR VALUES FROM (%4$L) TO (%5$L)',
      audit, part, parent, to_char(month_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
      to_char(month_end AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
    created := created || part;
  END LOOP;
  RETURN created;
END;
$$;

/**
 * Creates the monthly partitions of the change log from the current month (UTC) to `months_ahead` months
 * ahead; returns the names it created. Rows that already landed in the default partition for such a month
 * are moved into the new partition, so a late call never fails (the original's default-partition trap).
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.ensure_partitions(months_ahead integer DEFAULT 3) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM :AUDITRUM_SCHEMA._lock_partitions(months_ahead);
  RETURN :AUDITRUM_SCHEMA._ensure_monthly_partitions('changes', 'changed_at', months_ahead);
END;
$$;

SELECT :AUDITRUM_SCHEMA.ensure_partitions(3);
