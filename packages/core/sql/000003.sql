-- Auditrum schema, version 3: the admin's opt-in index for searching changed values.
--
-- The admin's lists are newest first (ORDER BY id DESC LIMIT n), so a filter that matches many rows is served by
-- walking the primary key backwards and stopping at the page's end, and the existing indexes serve the selective
-- filters: changes_row_idx (table_id, row_key, id) a row's history, a key, a rarely changed table and TRUNCATEs
-- (the only rows without a key); changes_actor_idx and changes_request_idx actor and request. No index is added
-- by default, because every index costs every captured change. See docs/admin.md for the whole table.

/**
 * Opt-in: makes the admin's search in changed values (q) an index lookup instead of a scan of the whole log, with a
 * trigram index (pg_trgm, a trusted extension: a database owner may create it; it is created in this schema when
 * not installed yet). Not on by default because every captured change then also updates a GIN index. Idempotent;
 * returns the index's name. The expression is the one the admin's query uses, and must stay so.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.enable_value_search() RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  trgm_schema name;
BEGIN
  SELECT n.nspname INTO trgm_schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
  IF trgm_schema IS NULL THEN
    EXECUTE format('CREATE EXTENSION pg_trgm SCHEMA %I', :'AUDITRUM_SCHEMA');
    trgm_schema := :'AUDITRUM_SCHEMA';
  END IF;
  EXECUTE format('CREATE INDEX IF NOT EXISTS changes_values_trgm_idx ON %I.changes USING gin '
    '((coalesce(old_values::text, '''') || coalesce(new_values::text, '''')) %I.gin_trgm_ops)',
    :'AUDITRUM_SCHEMA', trgm_schema);
  RETURN 'changes_values_trgm_idx';
END;
$$;
