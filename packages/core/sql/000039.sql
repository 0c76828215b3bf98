-- Auditrum schema, version 39: the txid index of each month that has ended holds the change id too, `(txid, id)`, so
-- that a transaction's page in such a month is a range of that index in id order.
--
-- The admin's transaction page (its `txid` filter) sorts the transaction's changes by id: through version 26's index
-- on (txid), which holds no id, it read every change of the transaction to sort them (an import of 100,000 changes at
-- 10,000,000: 37–43 ms p50 of the page, 0.36 µs a change). Through `(txid, id)` a month's page is the index read
-- backwards from the transaction's newest change, 50 entries. Capture pays nothing: the current month is never indexed
-- by txid (an index there costs every captured change; docs/admin.md).
--
-- _index_ended_partitions() (ensure_partitions(): at migrate(), on the partition maintainer's timer, `auditrum
-- partitions`) now makes `changes_pYYYY_MM_txid_id_idx` (txid, id) on each ended month without an index led by txid, and
-- replaces version 26's `changes_pYYYY_MM_txid_idx` (txid) one month a call, the newest first: the new index is made
-- before the old one is dropped, so the month is indexed by txid throughout (the summary of transactions, migration 37,
-- leaves it out all along) and the admin reads it as before until its new index is there (it tests each month's
-- index). Making it reads the month once while a write to that month waits (seconds for a few million changes, as
-- version 26's did); dropping the old one needs the month's partition alone for an instant (ACCESS EXCLUSIVE), so it is
-- tried for a tenth of a second at most and otherwise left to the next call. A host's own index led by txid
-- (docs/admin.md: changes_txid_idx on every partition) is left as it is.
-- Replaced: _index_ended_partitions (version 26's).

-- Whether relation `rel` has a usable index on (txid, id) (valid, ready, not partial), as the admin tests it.
CREATE FUNCTION :AUDITRUM_SCHEMA._txid_id_indexed(rel regclass) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT FROM pg_index i
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    JOIN pg_attribute b ON b.attrelid = i.indrelid AND b.attnum = i.indkey[1]
    WHERE i.indrelid = rel AND i.indisvalid AND i.indisready AND i.indpred IS NULL AND a.attname = 'txid'
      AND b.attname = 'id')
$$;

-- Makes, on each partition of the change log whose month has ended, the departures index (version 22; not while the
-- host keeps it on every partition, enable_table_as_of_index()) and an index on (txid, id) (not where an index led by
-- txid is there already), and replaces one month's index on (txid) alone (version 26's) by one on (txid, id). Returns
-- the partitions indexed, each once. Capture no longer writes there, so it pays nothing for them; a statement that
-- began before the month's end and writes there meanwhile waits for the build, and what it writes afterwards is
-- indexed as any row. The caller holds the partitions lock (_lock_partitions).
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._index_ended_partitions() RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  key_names text[] := :AUDITRUM_SCHEMA._all_key_names();
  tag text := :AUDITRUM_SCHEMA._departures_tag(key_names);
  part name;
  made text[] := '{}';
  lock_timeout_before text := current_setting('lock_timeout');
BEGIN
  IF to_regclass(format('%I.changes_departures_idx', :'AUDITRUM_SCHEMA')) IS NULL THEN
    FOR part IN
      SELECT c.relname FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
      WHERE h.inhparent = format('%I.changes', :'AUDITRUM_SCHEMA')::regclass AND c.relname ~ '^changes_p[0-9]{4}_[0-9]{2}$'
        AND ((to_date(substr(c.relname, 10), 'YYYY_MM') + interval '1 month')::timestamp AT TIME ZONE 'UTC') <= now()
        AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND i.indisvalid
          AND obj_description(i.indexrelid, 'pg_class') = tag)
      ORDER BY c.relname
    LOOP
      IF to_regclass(format('%I.%I', :'AUDITRUM_SCHEMA', part || '_departures_idx')) IS NOT NULL THEN
        EXECUTE format('DROP INDEX %I.%I', :'AUDITRUM_SCHEMA', part || '_departures_idx');
      END IF;
      EXECUTE format('CREATE INDEX %I ON %I.%I (table_id, operation, changed_at) INCLUDE (row_key) WHERE %s',
        part || '_departures_idx', :'AUDITRUM_SCHEMA', part, :AUDITRUM_SCHEMA._departures_predicate(key_names));
      EXECUTE format('COMMENT ON INDEX %I.%I IS %L', :'AUDITRUM_SCHEMA', part || '_departures_idx', tag);
      made := made || part::text;
    END LOOP;
  END IF;
  -- The ended months without an index led by txid, and the newest one whose only such index is version 26's (txid).
  FOR part IN
    (SELECT c.relname FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
     WHERE h.inhparent = format('%I.changes', :'AUDITRUM_SCHEMA')::regclass AND c.relname ~ '^changes_p[0-9]{4}_[0-9]{2}$'
       AND ((to_date(substr(c.relname, 10), 'YYYY_MM') + interval '1 month')::timestamp AT TIME ZONE 'UTC') <= now()
       AND NOT :AUDITRUM_SCHEMA._txid_indexed(c.oid))
    UNION ALL
    (SELECT c.relname FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
     WHERE h.inhparent = format('%I.changes', :'AUDITRUM_SCHEMA')::regclass AND c.relname ~ '^changes_p[0-9]{4}_[0-9]{2}$'
       AND ((to_date(substr(c.relname, 10), 'YYYY_MM') + interval '1 month')::timestamp AT TIME ZONE 'UTC') <= now()
       AND NOT :AUDITRUM_SCHEMA._txid_id_indexed(c.oid)
       AND EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid AND i.indisvalid
         AND i.indexrelid = to_regclass(format('%I.%I', :'AUDITRUM_SCHEMA', c.relname || '_txid_idx'))
         AND NOT EXISTS (SELECT FROM pg_inherits x WHERE x.inhrelid = i.indexrelid))
     ORDER BY c.relname DESC LIMIT 1)
  LOOP
    -- One left by a build that failed (an invalid index) is made again.
    IF to_regclass(format('%I.%I', :'AUDITRUM_SCHEMA', part || '_txid_id_idx')) IS NOT NULL THEN
      EXECUTE format('DROP INDEX %I.%I', :'AUDITRUM_SCHEMA', part || '_txid_id_idx');
    END IF;
    EXECUTE format('CREATE INDEX %I ON %I.%I (txid, id)', part || '_txid_id_idx', :'AUDITRUM_SCHEMA', part);
    IF NOT part::text = ANY (made) THEN
      made := made || part::text;
    END IF;
  END LOOP;
  -- Version 26's (txid) index where (txid, id) is there now (not an index of the host's own on the whole log, whose
  -- partitions' indexes PostgreSQL names the same: those cannot be dropped alone).
  FOR part IN
    SELECT c.relname FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
    WHERE h.inhparent = format('%I.changes', :'AUDITRUM_SCHEMA')::regclass AND c.relname ~ '^changes_p[0-9]{4}_[0-9]{2}$'
      AND :AUDITRUM_SCHEMA._txid_id_indexed(c.oid)
      AND EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.oid
        AND i.indexrelid = to_regclass(format('%I.%I', :'AUDITRUM_SCHEMA', c.relname || '_txid_idx'))
        AND NOT EXISTS (SELECT FROM pg_inherits x WHERE x.inhrelid = i.indexrelid))
    ORDER BY c.relname
  LOOP
    BEGIN
      PERFORM set_config('lock_timeout', '100ms', true);
      EXECUTE format('DROP INDEX %I.%I', :'AUDITRUM_SCHEMA', part || '_txid_idx');
      PERFORM set_config('lock_timeout', lock_timeout_before, true);
    EXCEPTION WHEN lock_not_available THEN
      -- A reader or a writer of that month holds it (the setting is undone with the attempt): the next call drops it.
    END;
  END LOOP;
  RETURN made;
END;
$$;
