-- Auditrum schema, version 2: the API-request log written by the Express and Koa middleware.

-- One row per HTTP request. Written in batches from an in-memory queue, off the request path; never updated.
CREATE TABLE :AUDITRUM_SCHEMA.api_requests (
  id bigserial NOT NULL,
  requested_at timestamptz NOT NULL,   -- when the request started
  request_id text NOT NULL,            -- same value as changes.request_id of the changes it caused
  method text NOT NULL,
  path text NOT NULL,                  -- without the query string
  route text,                          -- pattern, e.g. /orders/:id, when the framework knows it
  query jsonb,                         -- masked
  status smallint,                     -- null when the client aborted before a response
  duration_ms real NOT NULL,
  aborted boolean NOT NULL DEFAULT false,
  actor_id text,
  actor_label text,
  ip text,
  user_agent text,
  request_headers jsonb,               -- masked
  response_headers jsonb,              -- masked
  request_body jsonb,                  -- masked JSON value; text as a JSON string; or a marker object
  response_body jsonb,
  error text,
  PRIMARY KEY (id, requested_at)
) PARTITION BY RANGE (requested_at);
CREATE TABLE :AUDITRUM_SCHEMA.api_requests_default PARTITION OF :AUDITRUM_SCHEMA.api_requests DEFAULT;
CREATE INDEX api_requests_request_idx ON :AUDITRUM_SCHEMA.api_requests (request_id);
CREATE INDEX api_requests_actor_idx ON :AUDITRUM_SCHEMA.api_requests (actor_id, id) WHERE actor_id IS NOT NULL;

-- Creates the monthly partitions of one log table from the current month (UTC) to `months_ahead` months ahead,
-- moving rows that already landed in its default partition for such a month; returns the names it created.
-- The caller holds the partitions advisory lock.
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

/** The API-request log's partitions alone; ensure_partitions() calls it. Returns the names it created. */
CREATE FUNCTION :AUDITRUM_SCHEMA.ensure_api_request_partitions(months_ahead integer DEFAULT 3) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 120 THEN
    RAISE EXCEPTION 'auditrum: months ahead must be between 0 and 120, not %', months_ahead
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended('auditrum.partitions:' || :'AUDITRUM_SCHEMA', 0));
  RETURN :AUDITRUM_SCHEMA._ensure_monthly_partitions('api_requests', 'requested_at', months_ahead);
END;
$$;

/**
 * Creates the monthly partitions of the change log and of the API-request log from the current month (UTC) to
 * `months_ahead` months ahead. Returns the change-log partitions it created, as in version 1 (the API-request
 * log's are named api_requests_pYYYY_MM). Rows that already landed in a default partition for such a month are
 * moved into the new partition, so a late call never fails.
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA.ensure_partitions(months_ahead integer DEFAULT 3) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  created text[];
BEGIN
  IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 120 THEN
    RAISE EXCEPTION 'auditrum: months ahead must be between 0 and 120, not %', months_ahead
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- Several app instances may call this at start-up.
  PERFORM pg_advisory_xact_lock(hashtextextended('auditrum.partitions:' || :'AUDITRUM_SCHEMA', 0));
  created := :AUDITRUM_SCHEMA._ensure_monthly_partitions('changes', 'changed_at', months_ahead);
  PERFORM :AUDITRUM_SCHEMA._ensure_monthly_partitions('api_requests', 'requested_at', months_ahead);
  RETURN created;
END;
$$;

SELECT :AUDITRUM_SCHEMA.ensure_partitions(3);
