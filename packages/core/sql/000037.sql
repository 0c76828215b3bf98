-- Auditrum schema, version 37: the admin's summary of transactions kept by ensure_partitions(), so that the first
-- transaction page of a new admin mount does not read the whole current month.
--
-- The transaction page (the admin's `txid` filter) reads a transaction's changes within the blocks of 1,024 ids whose
-- smallest and largest txid span it (transaction-blocks.ts); the months that have ended are read by their txid index
-- (version 26). Each admin mount built that summary in memory on its first transaction page, reading the (id, txid) of
-- every change of the months without the index: at 10,000,000 changes, 7 days into the month (570,000 changes), 122–149
-- ms of server CPU and 146–286 ms for the page, four times that by the month's end. Capture cannot keep it (an index
-- on txid costs every captured change). ensure_partitions() (at migrate(), on the partition maintainer's timer,
-- `auditrum partitions`) now keeps it in `transaction_blocks`, for the ids that are settled (version 34's
-- _settled_ids: every transaction that may hold one has ended), adding only the changes since its last call; a new
-- admin mount reads it (a few thousand rows) and then, as before, only the changes above it. Capture does nothing more.
-- Replaced: ensure_partitions (version 36's).

-- Per block of 1,024 change ids (ids block * 1024 + 1 to (block + 1) * 1024), the smallest and largest txid among its
-- changes, over the changes with an id up to transaction_blocks_kept.summarized_to, except those of the months in
-- transaction_blocks_kept.indexed_from/indexed_to (indexed by txid when they were summarized: the admin reads them by
-- their times). A block's span only widens: a change purged or erased leaves it wider than needed, never narrower.
CREATE TABLE :AUDITRUM_SCHEMA.transaction_blocks (
  block bigint PRIMARY KEY,
  min_txid bigint NOT NULL,
  max_txid bigint NOT NULL
);

-- One row: how far transaction_blocks goes, and the newest change it counts (the anchor, as the admin's own summary
-- keeps one, final-ids.ts): when that change is gone or another one (the log emptied, its ids drawn again), the summary
-- no longer says where a txid's changes are, and is made again from the start.
CREATE TABLE :AUDITRUM_SCHEMA.transaction_blocks_kept (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  block_ids integer NOT NULL,
  summarized_to bigint NOT NULL,
  anchor_id bigint NOT NULL,
  anchor_at timestamptz NOT NULL,
  anchor_txid bigint NOT NULL,
  indexed_from timestamptz[] NOT NULL,
  indexed_to timestamptz[] NOT NULL
);

/**
 * Adds the settled changes above transaction_blocks_kept.summarized_to to transaction_blocks, leaving out the months
 * indexed by txid now (and those left out before), or makes the summary again from the start when its anchor is gone.
 * Nothing when the ids are not settled within a second (a transaction left open: the next call goes on). The caller
 * holds the partitions lock (_lock_partitions).
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._summarize_transactions() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  parent regclass := format('%I.changes', :'AUDITRUM_SCHEMA')::regclass;
  summarized bigint := 0;
  was_from timestamptz[];
  was_to timestamptz[];
  settled bigint;
  anchor record;
  months record;
  outside text;
BEGIN
  SELECT k.summarized_to, k.indexed_from, k.indexed_to INTO summarized, was_from, was_to
  FROM :AUDITRUM_SCHEMA.transaction_blocks_kept k
  WHERE EXISTS (SELECT FROM :AUDITRUM_SCHEMA.changes c
                WHERE c.id = k.anchor_id AND c.changed_at = k.anchor_at AND c.txid = k.anchor_txid);
  IF NOT FOUND THEN
    summarized := 0;
    DELETE FROM :AUDITRUM_SCHEMA.transaction_blocks;
    DELETE FROM :AUDITRUM_SCHEMA.transaction_blocks_kept;
  END IF;
  settled := :AUDITRUM_SCHEMA._settled_ids(interval '1 second');
  IF settled IS NULL OR settled <= summarized THEN
    RETURN;
  END IF;
  SELECT c.id, c.changed_at, c.txid INTO anchor FROM :AUDITRUM_SCHEMA.changes c
  WHERE c.id <= settled ORDER BY c.id DESC LIMIT 1;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  -- The months indexed by txid now (partitions changes_pYYYY_MM with a usable index led by txid, as the admin finds
  -- them), with those left out before; each run of consecutive months is one range, left out by literal times so that
  -- the query reads only the other partitions.
  SELECT array_agg(m.lower ORDER BY m.lower) AS lower, array_agg(m.upper ORDER BY m.lower) AS upper INTO months
  FROM (SELECT DISTINCT x.lower, x.upper FROM (
          SELECT to_date(substr(c.relname, 10), 'YYYY_MM')::timestamp AT TIME ZONE 'UTC' AS lower,
            (to_date(substr(c.relname, 10), 'YYYY_MM') + interval '1 month') AT TIME ZONE 'UTC' AS upper
          FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
          WHERE h.inhparent = parent AND c.relname ~ '^changes_p[0-9]{4}_[0-9]{2}$'
            AND :AUDITRUM_SCHEMA._txid_indexed(c.oid)
          UNION ALL
          SELECT * FROM unnest(was_from, was_to)) x) m;
  SELECT string_agg(format(' AND NOT (c.changed_at >= %L AND c.changed_at < %L)', r.lower, r.upper), '') INTO outside
  FROM (SELECT min(g.lower) AS lower, max(g.upper) AS upper
        FROM (SELECT s.lower, s.upper, sum(s.starts) OVER (ORDER BY s.lower) AS run
              FROM (SELECT u.lower, u.upper,
                      CASE WHEN u.lower = lag(u.upper) OVER (ORDER BY u.lower) THEN 0 ELSE 1 END AS starts
                    FROM unnest(months.lower, months.upper) u(lower, upper)) s) g
        GROUP BY g.run) r;
  EXECUTE format(
    $sql$INSERT INTO %1$I.transaction_blocks AS b (block, min_txid, max_txid)
    SELECT (c.id - 1) / 1024, min(c.txid), max(c.txid) FROM %1$I.changes c
    WHERE c.id > $1 AND c.id <= $2 %2$s GROUP BY 1
    ON CONFLICT (block) DO UPDATE SET min_txid = least(b.min_txid, excluded.min_txid),
      max_txid = greatest(b.max_txid, excluded.max_txid)$sql$,
    :'AUDITRUM_SCHEMA', coalesce(outside, ''))
  USING summarized, settled;
  INSERT INTO :AUDITRUM_SCHEMA.transaction_blocks_kept AS k
    (block_ids, summarized_to, anchor_id, anchor_at, anchor_txid, indexed_from, indexed_to)
  VALUES (1024, settled, anchor.id, anchor.changed_at, anchor.txid, coalesce(months.lower, '{}'),
    coalesce(months.upper, '{}'))
  ON CONFLICT (only_row) DO UPDATE SET block_ids = excluded.block_ids, summarized_to = excluded.summarized_to,
    anchor_id = excluded.anchor_id, anchor_at = excluded.anchor_at, anchor_txid = excluded.anchor_txid,
    indexed_from = excluded.indexed_from, indexed_to = excluded.indexed_to;
END;
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._summarize_transactions() FROM PUBLIC;

/**
 * Creates the monthly partitions of the change log and of the API-request log from the current month (UTC) to
 * `months_ahead` months ahead, brings the change log's summaries of each hour's ids up to date (version 36), indexes
 * its ended months (the departures index, version 22, and txid, version 26) and adds the settled changes to the summary
 * of transactions (version 37). Returns the change-log partitions it created, as in version 1 (the API-request log's
 * are named api_requests_pYYYY_MM). Rows that already landed in a default partition for such a month are moved into
 * the new partition, so a late call never fails. Runs with its owner's rights (version 8). The summaries of hours come
 * before the indexes: a statement still writing to an ended month waits for an index build to end, and the summary
 * for that statement; the summary of transactions comes after them, to leave out the months indexed now.
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA.ensure_partitions(months_ahead integer DEFAULT 3) RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  created text[];
BEGIN
  PERFORM :AUDITRUM_SCHEMA._lock_partitions(months_ahead);
  created := :AUDITRUM_SCHEMA._ensure_monthly_partitions('changes', 'changed_at', months_ahead);
  PERFORM :AUDITRUM_SCHEMA._ensure_monthly_partitions('api_requests', 'requested_at', months_ahead);
  PERFORM :AUDITRUM_SCHEMA._summarize_months();
  PERFORM :AUDITRUM_SCHEMA._index_ended_partitions();
  PERFORM :AUDITRUM_SCHEMA._summarize_transactions();
  RETURN created;
END;
$$;

SELECT :AUDITRUM_SCHEMA._grant_log_readers(format('%I.transaction_blocks', :'AUDITRUM_SCHEMA')::regclass);
SELECT :AUDITRUM_SCHEMA._grant_log_readers(format('%I.transaction_blocks_kept', :'AUDITRUM_SCHEMA')::regclass);
