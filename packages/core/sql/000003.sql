-- Auditrum schema, version 3: what the admin's queries need on a big log.
--
-- Every list is newest first (ORDER BY id DESC LIMIT n), so a filter that matches many rows is served by walking
-- the primary key backwards and stopping at the page's end; only filters that can match few rows far apart need an
-- index of their own. changes_row_idx (table_id, row_key, id) serves a row's history, a key, and a rarely changed
-- table; changes_actor_idx and changes_request_idx serve actor and request; the API log's own indexes serve actor
-- and request id there. See docs/admin.md for the whole table.

-- operation=TRUNCATE: rare by nature, so the backward walk would read the whole log to fill a page. Partial:
-- no other write touches it.
CREATE INDEX changes_truncate_idx ON :AUDITRUM_SCHEMA.changes (id) WHERE operation = 'TRUNCATE';

-- source: most changes come from requests (http) or application code with a context (app); the other sources
-- (job, cli, migration, and db: writes with no application context) can be rare and far apart. They get an index;
-- http and app rows never enter it. The admin's query repeats the predicate, so the planner can use it.
CREATE INDEX changes_source_idx ON :AUDITRUM_SCHEMA.changes ((coalesce(context ->> 'source', 'db')), id)
  WHERE coalesce(context ->> 'source', 'db') NOT IN ('http', 'app');

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
