-- Auditrum schema, version 6: the columns of each tracked table over time, so that history is read under today's
-- column names and types (a renamed column keeps its history, a dropped one is known as dropped) and periods when
-- a table was not tracked are known as gaps; the row key as capture records it; and an INSERT's and a DELETE's
-- whole-row image built by to_jsonb() of the row when that records the same values.

-- One row per state of a tracked table's columns or tracking: recorded whenever its registry row changes (track,
-- untrack, ALTER TABLE followed, sync) and the columns, rules or tracking differ from the last state recorded.
-- A change row belongs to the latest state whose after_change_id is below its id: ALTER TABLE holds the table's
-- lock until it commits, so no change of that table can take an id from the change sequence in between.
CREATE TABLE :AUDITRUM_SCHEMA.table_versions (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  table_id integer NOT NULL,
  -- The change sequence's last value when this state began (0 when it had none): changes of this table with a
  -- higher id were captured in this state.
  after_change_id bigint NOT NULL,
  tracking boolean NOT NULL,
  -- Every live column in attnum order: {attnum, name, type (format_type), key, captured, masked}. `captured`
  -- false means the only/exclude rules left it out of the recorded values.
  columns jsonb NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);
-- Several states may begin after the same change (untracked and tracked again with no write between): all are
-- kept, so that a reader knows of the gap.
CREATE INDEX table_versions_table_idx ON :AUDITRUM_SCHEMA.table_versions (table_id, after_change_id, id);

-- The columns of a registry row's table as recorded in table_versions ('[]' when the table no longer exists).
CREATE FUNCTION :AUDITRUM_SCHEMA._table_columns(t :AUDITRUM_SCHEMA.tracked_tables) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object(
      'attnum', a.attnum,
      'name', a.attname,
      'type', format_type(a.atttypid, a.atttypmod),
      'key', a.attnum = ANY (t.key_attnums),
      'captured', (t.only_attnums IS NULL OR a.attnum = ANY (t.only_attnums)) AND NOT (a.attnum = ANY (t.exclude_attnums)),
      'masked', a.attnum = ANY (t.mask_attnums)
    ) ORDER BY a.attnum), '[]'::jsonb)
  FROM pg_attribute a
  WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
    AND EXISTS (SELECT FROM pg_class c WHERE c.oid = t.relid)
$$;

-- Records a tracked table's new state when it differs from the last one. Runs with the schema owner's rights:
-- track(), untrack() and the DDL follower change the registry on behalf of the table's owner.
CREATE FUNCTION :AUDITRUM_SCHEMA._record_table_version() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  last :AUDITRUM_SCHEMA.table_versions;
  cols jsonb := :AUDITRUM_SCHEMA._table_columns(NEW);
  is_tracking boolean := NEW.untracked_at IS NULL;
BEGIN
  SELECT * INTO last FROM :AUDITRUM_SCHEMA.table_versions
  WHERE table_id = NEW.id ORDER BY after_change_id DESC, id DESC LIMIT 1;
  -- A dropped table has no columns left: its last known columns stay the ones its history was recorded under.
  IF cols = '[]'::jsonb AND last.table_id IS NOT NULL THEN
    cols := last.columns;
  END IF;
  IF last.table_id IS NOT NULL AND last.columns = cols AND last.tracking = is_tracking THEN
    RETURN NULL;
  END IF;
  INSERT INTO :AUDITRUM_SCHEMA.table_versions (table_id, after_change_id, tracking, columns)
  VALUES (NEW.id,
    coalesce(pg_sequence_last_value(format('%I.changes_id_seq', :'AUDITRUM_SCHEMA')::regclass), 0),
    is_tracking, cols);
  RETURN NULL;
END;
$$;

CREATE TRIGGER record_table_version AFTER INSERT OR UPDATE ON :AUDITRUM_SCHEMA.tracked_tables
FOR EACH ROW EXECUTE FUNCTION :AUDITRUM_SCHEMA._record_table_version();

-- Tables tracked before version 6: their columns from now on. What their columns were called before is not
-- known; their older history is read under the names it was recorded with.
INSERT INTO :AUDITRUM_SCHEMA.table_versions (table_id, after_change_id, tracking, columns)
SELECT t.id, 0, t.untracked_at IS NULL, :AUDITRUM_SCHEMA._table_columns(t)
FROM :AUDITRUM_SCHEMA.tracked_tables t;

/**
 * For each state of a table's columns (the change ids it covers: after_change_id < id <= until_change_id; none when
 * the two are equal, as for a period untracked without a write captured in between), what a
 * column recorded under stored_name is called today: its live name, or its last recorded name when the table no
 * longer exists, or NULL when the column was dropped since. `captured` false: the rules left the column out of
 * the recorded values in that state; `masked`: its values were recorded as hashes or markers. Readers join change
 * rows to it to read history under today's names.
 */
CREATE VIEW :AUDITRUM_SCHEMA.column_names AS
SELECT v.table_id, v.id AS version_id, v.after_change_id, v.until_change_id, v.tracking,
  col.attnum,
  col.name AS stored_name,
  CASE WHEN rel.oid IS NULL THEN latest.name ELSE live.attname::text END AS current_name,
  col.type,
  col.key,
  col.captured,
  col.masked
FROM (
  SELECT tv.*, lead(tv.after_change_id, 1, 9223372036854775807)
    OVER (PARTITION BY tv.table_id ORDER BY tv.after_change_id, tv.id) AS until_change_id
  FROM :AUDITRUM_SCHEMA.table_versions tv
) v
CROSS JOIN LATERAL jsonb_to_recordset(v.columns)
  AS col(attnum smallint, name text, type text, key boolean, captured boolean, masked boolean)
JOIN :AUDITRUM_SCHEMA.tracked_tables t ON t.id = v.table_id
LEFT JOIN pg_class rel ON rel.oid = t.relid AND rel.relname = t.table_name
LEFT JOIN pg_attribute live ON live.attrelid = rel.oid AND live.attnum = col.attnum AND NOT live.attisdropped
LEFT JOIN LATERAL (
  SELECT lc.name FROM :AUDITRUM_SCHEMA.table_versions lv
  CROSS JOIN LATERAL jsonb_to_recordset(lv.columns) AS lc(attnum smallint, name text)
  WHERE lv.table_id = v.table_id AND lc.attnum = col.attnum
  ORDER BY lv.after_change_id DESC, lv.id DESC LIMIT 1
) latest ON true;

/**
 * The row_key that capture records for the row of tracked table `target` with the given key: a JSON scalar for a
 * one-column key, an array (in key order) or an object (by column name) for any key. Each value is read as its
 * column's type and printed as capture prints it, so '7', 7 and "007" all find the row whose integer key is 7. A
 * key of the wrong shape or a value its column cannot hold is a clear error (invalid_parameter_value).
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.row_key(target regclass, key jsonb) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  t :AUDITRUM_SCHEMA.tracked_tables;
  cols record;
  names text[];
  values_in jsonb;
  parts text[] := '{}';
  value_text text;
  typed text;
  result text;
BEGIN
  SELECT * INTO t FROM :AUDITRUM_SCHEMA.tracked_tables WHERE relid = target ORDER BY untracked_at NULLS FIRST LIMIT 1;
  IF t.id IS NULL THEN
    RAISE EXCEPTION 'auditrum: table % is not tracked', target USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT array_agg(a.attname::text ORDER BY k.ord) INTO names
  FROM unnest(t.key_attnums) WITH ORDINALITY AS k(num, ord)
  JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum = k.num AND NOT a.attisdropped;
  IF key IS NULL OR jsonb_typeof(key) = 'null' THEN
    RAISE EXCEPTION 'auditrum: give the key of a row of table % (%)', target, array_to_string(names, ', ')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  values_in := CASE jsonb_typeof(key)
    WHEN 'array' THEN key
    WHEN 'object' THEN (SELECT jsonb_agg(key->n ORDER BY i) FROM unnest(names) WITH ORDINALITY AS x(n, i))
    ELSE jsonb_build_array(key) END;
  IF jsonb_array_length(values_in) <> cardinality(names)
    OR (jsonb_typeof(key) = 'object' AND (SELECT count(*) FROM jsonb_object_keys(key)) <> cardinality(names))
    OR EXISTS (SELECT FROM jsonb_array_elements(values_in) e WHERE jsonb_typeof(e) IN ('null', 'object', 'array')) THEN
    RAISE EXCEPTION 'auditrum: the key of table % is (%): give % value(s), not %', target,
      array_to_string(names, ', '), cardinality(names), key
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOR cols IN
    SELECT a.attname, a.atttypid, format_type(a.atttypid, a.atttypmod) AS type_sql, k.ord
    FROM unnest(t.key_attnums) WITH ORDINALITY AS k(num, ord)
    JOIN pg_attribute a ON a.attrelid = t.relid AND a.attnum = k.num AND NOT a.attisdropped
    ORDER BY k.ord
  LOOP
    value_text := values_in->>(cols.ord::int - 1);
    typed := format('%L::%s', value_text, cols.type_sql);
    BEGIN
      EXECUTE format('SELECT %s', typed);
    EXCEPTION WHEN data_exception OR invalid_text_representation THEN
      RAISE EXCEPTION 'auditrum: % is not a valid % for key column % of table %', to_jsonb(value_text), cols.type_sql,
        cols.attname, target USING ERRCODE = 'invalid_parameter_value';
    END;
    parts := parts || coalesce(replace(:AUDITRUM_SCHEMA._rendered_value_sql(cols.atttypid), '«x»', typed), typed);
  END LOOP;
  EXECUTE CASE WHEN cardinality(parts) = 1 THEN format('SELECT (%s)::text', parts[1])
    ELSE format('SELECT jsonb_build_array(%s)::text', array_to_string(parts, ', ')) END
  INTO result;
  RETURN result;
END;
$$;

-- The base generator, kept under its own name; the function below refines its output.
ALTER FUNCTION :AUDITRUM_SCHEMA._capture_function_sql(:AUDITRUM_SCHEMA.tracked_tables)
  RENAME TO _base_capture_function_sql;

-- jsonb_build_object() finds out how to convert each of its arguments at every call, keys included (about 1,100
-- instructions per text argument: four catalog look-ups), while to_jsonb() of a row takes the keys from the row
-- type and converts each value the same way. Measured on the benchmark's 8-column table: 14,000 instructions less
-- per single-row INSERT or DELETE (6%), 11,000 less per row of a bulk one. It records the same object exactly when
-- every column is recorded as it is: no only/exclude rule (a left-out column could be too large for jsonb even
-- though it is not recorded), no mask, no value of a user-defined type (rendered by its output function instead,
-- see _rendered_value_sql) and no virtual generated column. `new.*` (not `new`) so that a column named "new"
-- cannot be taken for the row.
CREATE FUNCTION :AUDITRUM_SCHEMA._capture_function_sql(t :AUDITRUM_SCHEMA.tracked_tables) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  function_sql text := :AUDITRUM_SCHEMA._base_capture_function_sql(t);
  image_new text;
  image_old text;
BEGIN
  IF t.only_attnums IS NOT NULL OR cardinality(t.exclude_attnums) > 0 OR cardinality(t.mask_attnums) > 0
    OR EXISTS (SELECT FROM pg_attribute a
               WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped
                 AND (a.attgenerated NOT IN ('', 's') OR :AUDITRUM_SCHEMA._rendered_value_sql(a.atttypid) IS NOT NULL))
  THEN
    RETURN function_sql;
  END IF;
  -- The images exactly as the base generator spells them (one pair per column, in column order).
  SELECT :AUDITRUM_SCHEMA._jsonb_object_sql(array_agg(format('%L, new.%I', a.attname, a.attname) ORDER BY a.attnum)),
    :AUDITRUM_SCHEMA._jsonb_object_sql(array_agg(format('%L, old.%I', a.attname, a.attname) ORDER BY a.attnum))
  INTO image_new, image_old
  FROM pg_attribute a WHERE a.attrelid = t.relid AND a.attnum > 0 AND NOT a.attisdropped;
  RETURN replace(replace(function_sql,
    format(', NULL, %s, auditrum_capture.actor', image_new), ', NULL, to_jsonb(new.*), auditrum_capture.actor'),
    format(', %s, NULL, auditrum_capture.actor', image_old), ', to_jsonb(old.*), NULL, auditrum_capture.actor');
END;
$$;

-- Tables tracked before this version get the cheaper images.
SELECT :AUDITRUM_SCHEMA._reinstall_all();
