-- Auditrum schema, version 31: an application role is trusted by its oid as well as its name.
--
-- The capture function trusted a comment when the session's login role had the name of an application role as it
-- was when the function was generated. Roles are renamed without an event trigger, so after `ALTER ROLE app RENAME
-- TO app_old` and `CREATE ROLE app`, the new role's comments were believed (its writes recorded under the actor it
-- claimed) until the functions were generated again (`auditrum sync`, ALTER TABLE, `app-role add`). The test is now
-- that the session's role has that name and is the role of the registered oid: `pg_has_role(name, oid, 'MEMBER')` is
-- true for the role itself (and for a member of it or a superuser, which may act as it anyway), not for another role
-- given its old name. A renamed application role stays untrusted until the functions are generated again, as
-- before. What is stored does not change.

-- The capture function's generator of version 29 (see 000013.sql for what it does, 000015.sql for the settings,
-- 000019.sql for named statements, 000024.sql for the few rows' UPDATE and 000029.sql for `mark` and the activity's
-- text), with the trusted roles tested by oid as well as by name.
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._capture_function_sql(t :AUDITRUM_SCHEMA.tracked_tables) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $gen$
DECLARE
  audit text := quote_ident(:'AUDITRUM_SCHEMA');
  rel text := format('%I.%I', t.schema_name, t.table_name);
  -- The generator writes «v», «x», «actor»… where a row alias, a value or a variable goes and replaces them in the
  -- whole text, so no name may hold one: each « of a name (and of the `when` condition) is written as `mark`, a
  -- character that no name, condition or role name holds, and put back once the function's text is whole.
  mark text;
  rel_sql text;
  -- The column that pairs the transition tables' rows in the statement over them ("auditrum ordinal"): a name that
  -- no column of the table has, or USING would find two.
  ordinal text := 'auditrum ordinal';
  max_bytes integer := coalesce(t.max_value_bytes, :AUDITRUM_SCHEMA._default_max_value_bytes());
  whole_row boolean := t.only_attnums IS NULL AND cardinality(t.exclude_attnums) = 0 AND cardinality(t.mask_attnums) = 0
    AND NOT EXISTS (SELECT FROM pg_attribute a
                    WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
                      AND (a.attgenerated NOT IN ('', 's') OR :AUDITRUM_SCHEMA._rendered_value_sql(a.atttypid) IS NOT NULL));
  trusted text;
  -- The test that no setting carries a context: concat() skips a setting never set.
  no_setting text := CASE WHEN :AUDITRUM_SCHEMA._reads_gateway_settings()
    THEN $t$concat(current_setting('auditrum.context', true), current_setting('request.jwt.claims', true),
        current_setting('hasura.user', true)) = ''$t$
    ELSE $t$coalesce(current_setting('auditrum.context', true), '') = ''$t$ END;
  col record;
  image_new text[] := '{}';
  image_old text[] := '{}';
  diff_old text[] := '{}';
  diff_new text[] := '{}';
  -- One IF per column for the single-row UPDATE: a column that did not change costs its comparison only.
  row_diff text := '';
  slow_image_new text[] := '{}';
  slow_image_old text[] := '{}';
  slow_diff_old text[] := '{}';
  slow_diff_new text[] := '{}';
  sizes_new text[] := '{}';
  sizes_old text[] := '{}';
  row_sizes text[] := '{}';
  marked_image_new text[] := '{}';
  marked_image_old text[] := '{}';
  marked_diff_new text[] := '{}';
  marked_diff_old text[] := '{}';
  changed text[] := '{}';
  key_new text;
  key_old text;
  key_row text;
  key_parts_new text[] := '{}';
  key_parts_old text[] := '{}';
  key_parts_row text[] := '{}';
  has_mask boolean := cardinality(t.mask_attnums) > 0;
  cond text;
  null_old text := '';
  null_new text := '';
  columns_list text := 'changed_at, txid, table_id, operation, row_key, old_values, new_values, actor_id, request_id, context';
  ins_sql text; del_sql text; upd_row_sql text; upd_many_sql text; upd_fetch_sql text;
  fits_new text := 'true'; fits_old text := 'true'; fits_both text := 'true';
  over_new text; over_old text; over_both text;
  -- The marker statements, run only when a row was left out; empty without measured columns.
  marked_ins text := ''; marked_del text := ''; marked_upd_row text := ''; marked_upd_many text := '';
  -- The single-row UPDATE's changed-column objects and its insert, guarded by the size test when there is one.
  upd_row text;
  -- The same for each pair of an UPDATE of 2 to 16 rows ('' when the table has a `when` condition): a pair with a value
  -- over the size limit sends the whole statement to the statement over the transition tables.
  upd_few text := '';
  -- PL/pgSQL keeps the types of old_row's and new_row's fields in its plans for the life of a session: the
  -- function's text names them (as a hash), so that a change of a column's type regenerates it (ALTER TABLE's
  -- event trigger compares the text) and every session compiles it again.
  column_types text := (SELECT left(encode(sha256(convert_to(string_agg(format('%s %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum), 'UTF8')), 'hex'), 16)
    FROM pg_attribute a WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped);
  function_sql text;
  body text;
  tag text := 'auditrum';
BEGIN
  -- Each trusted role by name (a quick comparison) and by its oid: a role renamed since the function was made, and
  -- another one given its old name, share that name; only the role itself is a member of its own oid.
  SELECT coalesce(string_agg(format('(session_user = %L AND pg_has_role(session_user, %s::oid, ''MEMBER''))',
      r.rolname, r.oid), ' OR ' ORDER BY r.rolname), '')
  INTO trusted
  FROM :AUDITRUM_SCHEMA.application_roles a JOIN pg_roles r ON r.oid = a.role_oid;
  trusted := CASE WHEN trusted = '' THEN 'false' ELSE format('(%s)', trusted) END;
  -- A control character (one of any encoding), or a private use one in the rare table whose names hold all of them.
  SELECT chr(c) INTO mark
  FROM (SELECT concat_ws(' ', t.schema_name, t.table_name, t.when_condition, trusted,
          (SELECT string_agg(a.attname, ' ') FROM pg_attribute a WHERE a.attrelid = t.relid AND a.attnum > 0)) AS names) n,
    generate_series(1, 63743) c
  WHERE (c BETWEEN 1 AND 8 OR c BETWEEN 14 AND 31 OR c >= 57344) AND strpos(n.names, chr(c)) = 0
  LIMIT 1;
  rel_sql := format('%I.%I', replace(t.schema_name, '«', mark), replace(t.table_name, '«', mark));
  cond := coalesce('(' || replace(t.when_condition, '«', mark) || ')', 'true');
  WHILE EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = t.relid AND a.attnum > 0 AND a.attname = ordinal) LOOP
    ordinal := ordinal || '_';
  END LOOP;

  FOR col IN
    SELECT a.attnum, n.attname, a.atttypid, a.atttypmod,
      (a.attnum = ANY (t.mask_attnums)) AS masked,
      :AUDITRUM_SCHEMA._compares_by_equality(a.atttypid) AS by_equality,
      coalesce(replace(:AUDITRUM_SCHEMA._rendered_value_sql(a.atttypid), '«x»', format('«v».%I', n.attname)),
        format('«v».%I', n.attname)) AS val
    FROM pg_attribute a CROSS JOIN LATERAL (SELECT replace(a.attname, '«', mark) AS attname) n
    -- A virtual generated column (PostgreSQL 18) is not stored, and the transition tables hold no value for it:
    -- naming one fails the statement over them. The columns it is computed from are recorded.
    WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated <> 'v'
      AND (t.only_attnums IS NULL OR a.attnum = ANY (t.only_attnums))
      AND NOT (a.attnum = ANY (t.exclude_attnums))
    ORDER BY a.attnum
  LOOP
    -- «v» stands for the row alias (old or new, old_row or new_row); masked values become a keyed hash or a marker.
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
      chg text := :AUDITRUM_SCHEMA._changed_sql(col.val, col.attname, col.by_equality, 'old', 'new');
      row_chg text := :AUDITRUM_SCHEMA._changed_sql(col.val, col.attname, col.by_equality, 'old_row', 'new_row');
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
      row_diff := row_diff || format(
        E'        IF (%s) THEN\n          old_diff := old_diff || jsonb_build_object(%L, %s);\n          new_diff := new_diff || jsonb_build_object(%L, %s);\n        END IF;\n',
        row_chg, col.attname, replace(v, '«v»', 'old_row'), col.attname, replace(v, '«v»', 'new_row'));
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
        row_sizes := row_sizes || replace(value_size, '«v»', 'old_row') || replace(value_size, '«v»', 'new_row');
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

  SELECT array_agg(replace(r.val, '«v»', 'new') ORDER BY k.ord), array_agg(replace(r.val, '«v»', 'old') ORDER BY k.ord),
    array_agg(replace(r.val, '«v»', 'new_row') ORDER BY k.ord)
  INTO key_parts_new, key_parts_old, key_parts_row
  FROM unnest(t.key_attnums) WITH ORDINALITY AS k(num, ord)
  JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum = k.num AND NOT a.attisdropped
  CROSS JOIN LATERAL (SELECT replace(a.attname, '«', mark) AS attname) n
  CROSS JOIN LATERAL (SELECT coalesce(replace(:AUDITRUM_SCHEMA._rendered_value_sql(a.atttypid), '«x»', format('«v».%I', n.attname)),
    format('«v».%I', n.attname)) AS val) r;
  IF coalesce(cardinality(key_parts_new), 0) <> cardinality(t.key_attnums) THEN
    RAISE EXCEPTION 'auditrum: a key column of table % no longer exists; untrack the table or give other key columns', rel
      USING ERRCODE = 'invalid_table_definition';
  END IF;
  IF cardinality(key_parts_new) = 1 THEN
    key_new := '(' || key_parts_new[1] || ')::text';
    key_old := '(' || key_parts_old[1] || ')::text';
    key_row := '(' || key_parts_row[1] || ')::text';
  ELSE
    key_new := format('jsonb_build_array(%s)::text', array_to_string(key_parts_new, ', '));
    key_old := format('jsonb_build_array(%s)::text', array_to_string(key_parts_old, ', '));
    key_row := format('jsonb_build_array(%s)::text', array_to_string(key_parts_row, ', '));
  END IF;

  IF t.when_condition IS NOT NULL THEN
    null_old := format(', (SELECT (NULL::%s).*) AS old', rel_sql);
    null_new := format(', (SELECT (NULL::%s).*) AS new', rel_sql);
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
  END IF;

  -- «…» stand for the statement's parameters: plpgsql variables in the cached statements, $n in the bulk
  -- UPDATE that is planned afresh with the transition tables' real size.
  ins_sql := format('INSERT INTO %s.changes (%s) SELECT «ts», «xid», %s, ''INSERT'', %s, NULL, %s, «actor», «request», «ctx» FROM new_rows AS new%s WHERE %s AND %s',
    audit, columns_list, t.id, key_new, CASE WHEN whole_row THEN 'to_jsonb(new.*)' ELSE :AUDITRUM_SCHEMA._jsonb_object_sql(image_new) END,
    null_old, cond, fits_new);
  del_sql := format('INSERT INTO %s.changes (%s) SELECT «ts», «xid», %s, ''DELETE'', %s, %s, NULL, «actor», «request», «ctx» FROM old_rows AS old%s WHERE %s AND %s',
    audit, columns_list, t.id, key_old, CASE WHEN whole_row THEN 'to_jsonb(old.*)' ELSE :AUDITRUM_SCHEMA._jsonb_object_sql(image_old) END,
    null_new, cond, fits_old);
  -- The single-row UPDATE: the new row is read only when the `when` condition holds for the pair.
  upd_fetch_sql := CASE WHEN t.when_condition IS NULL THEN 'SELECT * INTO new_row FROM new_rows'
    ELSE format('SELECT new.* INTO new_row FROM old_rows AS old, new_rows AS new WHERE %s', cond) END;
  upd_row_sql := format(E'old_diff := ''{}'';\n        new_diff := ''{}'';\n%s        IF old_diff <> ''{}''::jsonb THEN\n          INSERT INTO %s.changes (%s) VALUES («ts», «xid», %s, ''UPDATE'', %s, old_diff, new_diff, «actor», «request», «ctx»);\n        END IF',
    row_diff, audit, columns_list, t.id, key_row);
  -- Transition tables hold old and new rows in the same order (PostgreSQL appends each pair together), so the
  -- ordinal pairs them even when the statement changed the key.
  upd_many_sql := format('INSERT INTO %s.changes (%s) SELECT «ts», «xid», %s, ''UPDATE'', %s, %s, %s, «actor», «request», «ctx» FROM (SELECT row_number() OVER () AS «ordinal», * FROM old_rows) AS old JOIN (SELECT row_number() OVER () AS «ordinal», * FROM new_rows) AS new USING («ordinal») WHERE (%s) AND %s AND %s',
    audit, columns_list, t.id, key_new, array_to_string(diff_old, ' || '), array_to_string(diff_new, ' || '),
    array_to_string(changed, ' OR '), cond, fits_both);
  upd_many_sql := replace(upd_many_sql, '«ordinal»', quote_ident(ordinal));

  -- Rows with a value over the size limit were left out above: these statements record them, each such value as
  -- a marker with its size and SHA-256. They run only then (after the flag, or when the single row is over the
  -- limit), so their expressions are not set up at every statement.
  upd_row := :AUDITRUM_SCHEMA._bind_cached(upd_row_sql);
  IF t.when_condition IS NULL THEN
    upd_few := replace(upd_row, E'\n', E'\n    ');
    IF cardinality(sizes_new) > 0 THEN
      upd_few := format(E'IF greatest(0, %s) > %s THEN\n              RAISE SQLSTATE %L;\n            END IF;\n            %s',
        array_to_string(row_sizes, ', '), max_bytes, 'AU001', upd_few);
    END IF;
    upd_few := format($few$
    -- An UPDATE of 2 to 16 rows is compared pair by pair as one of one row (the statement below costs about 2.4
    -- million instructions to parse and plan, whatever its row count): both transition tables are read in step, since
    -- they hold each pair at the same place. A value over the size limit (AU001) or a column whose type changed
    -- since this session compiled the function sends the statement to the statement below, which records every row.
    ELSIF many THEN
      rows_counted := 0;
      FOR old_row IN SELECT * FROM old_rows LOOP
        rows_counted := rows_counted + 1;
        EXIT WHEN rows_counted > 16;
      END LOOP;
      IF rows_counted <= 16 THEN
        BEGIN
          OPEN new_rows_read FOR SELECT * FROM new_rows;
          FOR old_row IN SELECT * FROM old_rows LOOP
            FETCH new_rows_read INTO new_row;
            %s;
          END LOOP;
          CLOSE new_rows_read;
          many := false;
        EXCEPTION WHEN datatype_mismatch OR SQLSTATE 'AU001' THEN
          many := true;
        END;
      END IF;$few$, upd_few);
  END IF;
  IF cardinality(sizes_new) > 0 THEN
    marked_ins := format('INSERT INTO %s.changes (%s) SELECT «ts», «xid», %s, ''INSERT'', %s, NULL, %s || %s, «actor», «request», «ctx» FROM new_rows AS new%s WHERE %s AND %s',
      audit, columns_list, t.id, key_new, :AUDITRUM_SCHEMA._jsonb_object_sql(slow_image_new),
      :AUDITRUM_SCHEMA._oversized_list_sql(marked_image_new), null_old, cond, over_new);
    marked_del := format('INSERT INTO %s.changes (%s) SELECT «ts», «xid», %s, ''DELETE'', %s, %s || %s, NULL, «actor», «request», «ctx» FROM old_rows AS old%s WHERE %s AND %s',
      audit, columns_list, t.id, key_old, :AUDITRUM_SCHEMA._jsonb_object_sql(slow_image_old),
      :AUDITRUM_SCHEMA._oversized_list_sql(marked_image_old), null_new, cond, over_old);
    marked_upd_row := format('INSERT INTO %s.changes (%s) SELECT «ts», «xid», %s, ''UPDATE'', %s, %s || %s, %s || %s, «actor», «request», «ctx» FROM «pairs» WHERE (%s) AND %s',
      audit, columns_list, t.id, key_new,
      array_to_string(slow_diff_old, ' || '), :AUDITRUM_SCHEMA._oversized_list_sql(marked_diff_old),
      array_to_string(slow_diff_new, ' || '), :AUDITRUM_SCHEMA._oversized_list_sql(marked_diff_new),
      array_to_string(changed, ' OR '), cond);
    marked_upd_many := replace(marked_upd_row || ' AND ' || over_both, '«pairs»',
      format('(SELECT row_number() OVER () AS %1$I, * FROM old_rows) AS old JOIN (SELECT row_number() OVER () AS %1$I, * FROM new_rows) AS new USING (%1$I)', ordinal));
    marked_upd_row := replace(marked_upd_row, '«pairs»', 'old_rows AS old, new_rows AS new');
    marked_ins := format(E'\n    IF current_setting(''auditrum.oversized'', true) = ''on'' THEN\n      PERFORM set_config(''auditrum.oversized'', ''off'', true);\n      %s;\n    END IF;',
      :AUDITRUM_SCHEMA._bind_cached(marked_ins));
    marked_del := format(E'\n    IF current_setting(''auditrum.oversized'', true) = ''on'' THEN\n      PERFORM set_config(''auditrum.oversized'', ''off'', true);\n      %s;\n    END IF;',
      :AUDITRUM_SCHEMA._bind_cached(marked_del));
    -- The single row over the limit is recorded by the marker statement (its values are not read into objects).
    upd_row := format(E'IF greatest(0, %s) > %s THEN\n          %s;\n        ELSE\n          %s;\n        END IF',
      array_to_string(row_sizes, ', '), max_bytes, :AUDITRUM_SCHEMA._bind_cached(marked_upd_row),
      replace(upd_row, E'\n', E'\n  '));
    marked_upd_many := format(E'\n      IF current_setting(''auditrum.oversized'', true) = ''on'' THEN\n        PERFORM set_config(''auditrum.oversized'', ''off'', true);\n        EXECUTE %L USING statement_timestamp(), txid_current(), actor, request, ctx, mask_ikey, mask_okey;\n      END IF;',
      :AUDITRUM_SCHEMA._bind(marked_upd_many, true));
  END IF;

  function_sql := format($f$CREATE OR REPLACE FUNCTION %1$s.%2$I() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $auditrum$
-- Generated by Auditrum for %3$s (column types %16$s); regenerated by auditrum.track(), on ALTER TABLE and
-- when the application roles change. Do not edit.
#variable_conflict use_column
<<auditrum_capture>>
DECLARE
  head text := split_part(current_query(), '*/', 1);
  ctx jsonb;
  context_setting text;
  actor text;
  request text;
  mask_ikey bytea;
  mask_okey bytea;
  many boolean;
  old_row record;
  new_row record;
  old_diff jsonb;
  new_diff jsonb;
  rows_counted integer;
  new_rows_read refcursor;
BEGIN
  -- The context arrives as a comment that Auditrum's pg instrumentation puts first in the statement: no
  -- extra round trip and no session state, so it works behind PgBouncer and pinning proxies. One parse in
  -- a subtransaction costs less than pg_input_is_valid() and a second parse; a bad comment never fails
  -- the write (OTHERS leaves out query cancellation).
  -- (16,395 bytes of head: the 11 of the prefix and at most 16,384 of JSON.)
  -- (A loop run once, or twice for the session's activity below.)
  LOOP
    IF starts_with(head, '/*auditrum:') AND octet_length(head) <= 16395 THEN
      BEGIN
        ctx := substr(head, 12)::jsonb;
      EXCEPTION WHEN OTHERS THEN
        ctx := NULL;
      END;
    END IF;
    IF ctx IS NULL OR jsonb_typeof(ctx) <> 'object' THEN
      -- A deferred trigger run as an extended-protocol statement's implicit transaction commits (at the Sync) has
      -- no current query: the session's activity is still that statement's text, read as the comment once (''
      -- when there is none). Only here, so that a statement with a comment pays no expression for it.
      IF head IS NULL THEN
        head := coalesce(split_part(%1$s._session_activity(), '*/', 1), '');
        CONTINUE;
      END IF;
      -- No comment (psql, a script, a gateway): the connection's settings may carry a context, which
      -- %1$s._settings_context() reads with the same limit and trust; with none set this one test is all that it
      -- costs (the gateways' settings are in it only once read_gateway_settings(true) was called).
      IF %17$s THEN
        ctx := jsonb_build_object('source', 'db', 'db_user', session_user, 'application_name',
          current_setting('application_name'), 'client_addr', inet_client_addr());
      ELSE
        -- A statement prepared under a name (createAuditrum({ preparedStatements: 'setting' })) has its context in
        -- auditrum.context, set for it alone: from an application role, a JSON object within the comment's limit
        -- is read here as a comment is, one parse in a subtransaction, without calling %1$s._settings_context()
        -- (a function call and its own expressions, which cost more than the parse and plan that the named
        -- statement saves); anything else, and every other role's setting, is left to it. Either way the ids are
        -- cut as it cuts them.
        context_setting := CASE WHEN %11$s THEN current_setting('auditrum.context', true) END;
        IF starts_with(context_setting, '{') AND octet_length(context_setting) <= 16384 THEN
          BEGIN
            ctx := context_setting::jsonb;
          EXCEPTION WHEN OTHERS THEN
            ctx := NULL;
          END;
        END IF;
        IF jsonb_typeof(ctx) IS DISTINCT FROM 'object' THEN
          ctx := %1$s._settings_context(%11$s);
        END IF;
        -- (%1$s._id_capped() is called only for an id over its limit: a call costs more than the test.)
        actor := CASE WHEN length(ctx->>'actor_id') > 256 THEN %1$s._id_capped(ctx->>'actor_id', 256) ELSE ctx->>'actor_id' END;
        request := CASE WHEN length(ctx->>'request_id') > 128 THEN %1$s._id_capped(ctx->>'request_id', 128)
          ELSE ctx->>'request_id' END;
        ctx := ctx - '{actor_id,request_id}'::text[];
      END IF;
    -- Only the application's roles are believed: the login role (SET ROLE cannot change it) is compared with
    -- their names. Anyone else's comment is kept as what it claims, beside who really wrote.
    ELSIF %11$s THEN
      actor := ctx->>'actor_id';
      request := ctx->>'request_id';
      -- An id over its index's limit (about 2,700 bytes) would fail the write; the library cuts them at 256/128, so
      -- only a hand-written comment long enough to hold one has its ids cut, as a setting's are.
      IF octet_length(head) > 2048 THEN
        actor := CASE WHEN length(actor) > 256 THEN %1$s._id_capped(actor, 256) ELSE actor END;
        request := CASE WHEN length(request) > 128 THEN %1$s._id_capped(request, 128) ELSE request END;
      END IF;
      ctx := ctx - '{actor_id,request_id}'::text[];
    ELSE
      ctx := jsonb_build_object('source', 'db', 'db_user', session_user, 'application_name',
        current_setting('application_name'), 'client_addr', inet_client_addr(), 'claimed', ctx);
    END IF;
    EXIT;
  END LOOP;%4$s
  -- An UPDATE of one row (the common case, counted first: at most two rows are read) compares its old and new
  -- row in PL/pgSQL expressions, set up once per transaction; one of several rows goes through a statement
  -- planned for the real row count. Rows with a value over the size limit are recorded apart, with markers.
  IF TG_OP = 'UPDATE' THEN
    FOR old_row IN SELECT * FROM old_rows LOOP
      many := many IS NOT NULL;
      EXIT WHEN many;
    END LOOP;
    IF NOT many THEN
      %9$s;
      IF FOUND THEN
        BEGIN
          %10$s;
        -- A column's type changed since this session compiled the function (its plans keep the old type) and the
        -- function was not regenerated (no event trigger): the statement over the transition tables records it.
        EXCEPTION WHEN datatype_mismatch THEN
          many := true;
        END;
      END IF;%18$s
    END IF;
    IF many THEN
      EXECUTE %14$L USING statement_timestamp(), txid_current(), actor, request, ctx, mask_ikey, mask_okey;%15$s
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
    audit, 'capture_' || t.id, to_json(rel)::text,
    CASE WHEN has_mask THEN format(E'\n  SELECT s.mask_ikey, s.mask_okey INTO mask_ikey, mask_okey FROM %s.settings s;', audit) ELSE '' END,
    columns_list, t.id,
    :AUDITRUM_SCHEMA._bind_cached(ins_sql), :AUDITRUM_SCHEMA._bind_cached(del_sql), upd_fetch_sql, upd_row,
    trusted, marked_ins, marked_del, :AUDITRUM_SCHEMA._bind(upd_many_sql, true), marked_upd_many, column_types,
    no_setting, upd_few);
  function_sql := replace(function_sql, mark, '«');
  -- Names of tables and columns are in the body (quoted); the body's dollar quote must be a tag none of them
  -- contains, or a name could end the body and add SQL to the statement that creates the function.
  body := substr(function_sql, strpos(function_sql, '$auditrum$') + 10);
  body := left(body, -10);
  WHILE strpos(body, '$' || tag || '$') > 0 LOOP
    tag := tag || '_';
  END LOOP;
  RETURN format('%s$%s$%s$%s$', left(function_sql, strpos(function_sql, '$auditrum$') - 1), tag, body, tag);
END;
$gen$;

-- Tables tracked before this version get the new capture function.
SELECT :AUDITRUM_SCHEMA._reinstall_all();
