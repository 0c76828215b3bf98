-- Auditrum schema, version 29: the change log's row and actor indexes without B-tree deduplication.
--
-- changes_row_idx (table_id, row_key, id) and changes_actor_idx (actor_id, id) end in the change's id, so no two of
-- their entries are ever equal and deduplication (PostgreSQL 13 and later) never merges any: it only costs a pass over
-- every leaf page that fills, before that page is split all the same. Without it a captured change costs 0.6–2.0k
-- instructions less per bulk row and 0.7–2.7k per single-row statement, and the log stores the same bytes
-- (docs/benchmarks.md, "Session 9: capture cost (issue 15)"). changes_request_idx keeps it: a request's changes share
-- its id. The primary key is unique, which PostgreSQL never deduplicates.
--
-- The option belongs to the partitioned index, from which every partition's index takes it (the months made later
-- too), and a partitioned index's options cannot be altered: each of the two is built again under a name of its own,
-- then the old one is dropped and the new one takes its name, and each partition's index the name it had. Readers
-- keep an index throughout; the build reads the whole log once, while a write to the log waits.
CREATE FUNCTION :AUDITRUM_SCHEMA._rebuild_change_index(index_name text, definition text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  building text := index_name || '_building';
  new_leaves regclass[];
  old_names name[];
BEGIN
  EXECUTE format('CREATE INDEX %I ON %I.changes %s', building, :'AUDITRUM_SCHEMA', definition);
  -- Each partition's new index, and the name of its old one (partitions made later name theirs as before).
  SELECT array_agg(n.inhrelid::regclass), array_agg(o.relname)
  INTO new_leaves, old_names
  FROM pg_inherits n JOIN pg_index ni ON ni.indexrelid = n.inhrelid
  JOIN pg_inherits oh ON oh.inhparent = format('%I.%I', :'AUDITRUM_SCHEMA', index_name)::regclass
  JOIN pg_index oi ON oi.indexrelid = oh.inhrelid AND oi.indrelid = ni.indrelid
  JOIN pg_class o ON o.oid = oi.indexrelid
  WHERE n.inhparent = format('%I.%I', :'AUDITRUM_SCHEMA', building)::regclass;
  EXECUTE format('DROP INDEX %I.%I', :'AUDITRUM_SCHEMA', index_name);
  EXECUTE format('ALTER INDEX %I.%I RENAME TO %I', :'AUDITRUM_SCHEMA', building, index_name);
  FOR i IN 1..coalesce(cardinality(new_leaves), 0) LOOP
    EXECUTE format('ALTER INDEX %s RENAME TO %I', new_leaves[i], old_names[i]);
  END LOOP;
END;
$$;

SELECT :AUDITRUM_SCHEMA._rebuild_change_index('changes_row_idx', '(table_id, row_key, id) WITH (deduplicate_items = off)');
SELECT :AUDITRUM_SCHEMA._rebuild_change_index('changes_actor_idx',
  '(actor_id, id) WITH (deduplicate_items = off) WHERE actor_id IS NOT NULL');
DROP FUNCTION :AUDITRUM_SCHEMA._rebuild_change_index(text, text);
