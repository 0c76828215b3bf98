-- Auditrum schema, version 20: a DDL record takes its transaction id before its row id.
--
-- seal() relies on the order of the two (see the seals table in version 12): a transaction whose id is later than a
-- seal's own got it after that seal read the change-log sequence, so its rows have larger ids. A capture row always
-- comes after the write it records, which gave its transaction an id; a DDL record can be its transaction's first
-- write (untrack() of a table whose row was already updated elsewhere, a repair), and an INSERT draws its id
-- default before the row's insertion assigns the transaction id. A seal running between the two would treat the
-- row as below its floor and never seal it.
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._record_capture_ddl(table_id integer, event text, ddl text, problems text[])
RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pg_current_xact_id();
  INSERT INTO :AUDITRUM_SCHEMA.changes (table_id, operation, row_key, old_values, new_values, context)
  VALUES (table_id, 'DDL', NULL,
    CASE WHEN problems IS NOT NULL THEN jsonb_build_object('problems', to_jsonb(problems)) END,
    jsonb_build_object('event', event, 'ddl', ddl),
    :AUDITRUM_SCHEMA._session_context(event))
$$;
