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

/** The API-request log's partitions alone (ensure_partitions() keeps them too); returns the names it created. */
CREATE FUNCTION :AUDITRUM_SCHEMA.ensure_api_request_partitions(months_ahead integer DEFAULT 3) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM :AUDITRUM_SCHEMA._lock_partitions(months_ahead);
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
  PERFORM :AUDITRUM_SCHEMA._lock_partitions(months_ahead);
  created := :AUDITRUM_SCHEMA._ensure_monthly_partitions('changes', 'changed_at', months_ahead);
  PERFORM :AUDITRUM_SCHEMA._ensure_monthly_partitions('api_requests', 'requested_at', months_ahead);
  RETURN created;
END;
$$;

SELECT :AUDITRUM_SCHEMA.ensure_partitions(3);
