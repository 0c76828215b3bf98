-- Auditrum schema, version 26: an index on txid on every month of the change log that has ended, for a transaction's
-- changes.
--
-- The transaction page (the admin's `txid` filter) and undoing a transaction read the changes of one transaction. The
-- schema keeps no index on txid for the log as a whole: a btree costs every captured change about 8k instructions a
-- single-row statement, a BRIN one 11–14k (docs/benchmarks.md, "Session 8: admin speed"). So each admin mount keeps a
-- summary of which txids lie in which blocks of ids (transaction-blocks.ts), whose first build reads every (id, txid)
-- of the log: 0.2–0.6 s per million changes. But capture writes only into the current month's partition (version 22):
-- an index made on a month once it has ended costs capture nothing. So _index_ended_partitions() (ensure_partitions(),
-- at migrate(), on the partition maintainer's timer, `auditrum partitions`) now also makes `changes_pYYYY_MM_txid_idx`
-- (txid) on each ended month, unless an index led by txid is there already (the optional changes_txid_idx of
-- docs/admin.md, attached to every partition). The admin's summary then covers only the months without one (the
-- current month, the default partition, months ahead), and the months with one are read by it (the admin finds them
-- with a catalog query of its own, which needs no grant); undoing a transaction reads them by it too (the planner
-- picks it per partition).
-- Replaced: _index_ended_partitions (version 22's).

-- Whether relation `rel` has a usable index led by txid (valid, ready, not partial: it holds every row). The admin's
-- summary of transactions (transaction-blocks.ts) tests the same in its own query: a role that may read the log need
-- not be granted this function.
CREATE FUNCTION :AUDITRUM_SCHEMA._txid_indexed(rel regclass) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT EXISTS (SELECT FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    WHERE i.indrelid = rel AND i.indisvalid AND i.indisready AND i.indpred IS NULL AND a.attname = 'txid')
$$;

-- Makes, on each partition of the change log whose month has ended, the departures index (version 22; not while the
-- host keeps it on every partition, enable_table_as_of_index()) and an index on txid (version 26; not where an index
-- led by txid is there already). Returns the partitions indexed, each once. Capture no longer writes there, so it pays
-- nothing for them; a statement that began before the month's end and writes there meanwhile waits for the build, and
-- what it writes afterwards is indexed as any row. The caller holds the partitions lock (_lock_partitions).
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA._index_ended_partitions() RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  key_names text[] := :AUDITRUM_SCHEMA._all_key_names();
  tag text := :AUDITRUM_SCHEMA._departures_tag(key_names);
  part name;
  made text[] := '{}';
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
  FOR part IN
    SELECT c.relname FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
    WHERE h.inhparent = format('%I.changes', :'AUDITRUM_SCHEMA')::regclass AND c.relname ~ '^changes_p[0-9]{4}_[0-9]{2}$'
      AND ((to_date(substr(c.relname, 10), 'YYYY_MM') + interval '1 month')::timestamp AT TIME ZONE 'UTC') <= now()
      AND NOT :AUDITRUM_SCHEMA._txid_indexed(c.oid)
    ORDER BY c.relname
  LOOP
    -- One left by a build that failed (an invalid index) is made again.
    IF to_regclass(format('%I.%I', :'AUDITRUM_SCHEMA', part || '_txid_idx')) IS NOT NULL THEN
      EXECUTE format('DROP INDEX %I.%I', :'AUDITRUM_SCHEMA', part || '_txid_idx');
    END IF;
    EXECUTE format('CREATE INDEX %I ON %I.%I (txid)', part || '_txid_idx', :'AUDITRUM_SCHEMA', part);
    IF NOT part::text = ANY (made) THEN
      made := made || part::text;
    END IF;
  END LOOP;
  RETURN made;
END;
$$;

-- The change log's months that have ended get their txid index now.
SELECT :AUDITRUM_SCHEMA._index_ended_partitions();
