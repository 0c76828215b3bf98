-- Auditrum schema, version 32: restore boundaries, so that a log restored into another cluster is exported, sealed
-- and verified by its rows, not by transaction ids of another cluster's count.
--
-- A log restored from a dump (pg_dump, pg_restore) into another cluster keeps the old cluster's transaction ids
-- (`txid`), which the new cluster counts afresh, usually from lower. The readers that go by transaction ids took the
-- restored rows whose ids the new cluster had not reached for transactions still running: the export with a cursor
-- skipped them for good, seal left them out of the chain and verify named them `inserted`; and the new cluster's
-- transactions get ids that restored ones had (see restore-boundary.ts for the transaction pages and undo).
--
-- `migrate`, run as the schema's owner on a restored database, records a boundary: the log's ids at that moment.
-- Every row up to them was committed before the boundary's transaction (`xid`) ended (a dump holds committed rows
-- only; migrate waits for the writers in flight first), so the readers treat them as settled, whatever their txid.
-- Each row says where the log is from then on (the cluster's system identifier and the database's oid): a log that
-- finds itself in another cluster than its latest row says has been restored there and its boundary is not recorded
-- yet (_restore_pending()), and seal refuses to run until it is.
CREATE TABLE :AUDITRUM_SCHEMA.restore_boundaries (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  -- Where the log is from this boundary on: pg_control_system()'s identifier (null where the owner may not read it)
  -- and the database's oid.
  system_identifier bigint,
  database_oid oid NOT NULL,
  -- The log rows restored: change and API-request ids up to these (0 on the first row, the log's origin). Rows
  -- above are written in this database, with its cluster's transaction ids.
  changes_upto bigint NOT NULL,
  requests_upto bigint NOT NULL,
  -- The transaction that recorded the boundary: every row up to the ids above had been committed when it ended.
  xid bigint NOT NULL,
  -- Seal runs up to this id were made before the boundary (in the clusters the log came from).
  seals_upto bigint NOT NULL
);

-- Nothing secret (log ids, and identifiers every role may read in the catalog): every reader of the log reads it.
GRANT SELECT ON :AUDITRUM_SCHEMA.restore_boundaries TO PUBLIC;

-- Where the log is now: this cluster's identifier (null when the caller may not read pg_control_system()) and this
-- database's oid.
CREATE FUNCTION :AUDITRUM_SCHEMA._database_identity(OUT system_identifier bigint, OUT database_oid oid)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN has_function_privilege('pg_control_system()', 'EXECUTE')
      THEN (SELECT s.system_identifier FROM pg_control_system() s) END,
    (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
$$;

-- The log's origin: the rows already here were written where it is now.
INSERT INTO :AUDITRUM_SCHEMA.restore_boundaries (system_identifier, database_oid, changes_upto, requests_upto, xid,
  seals_upto)
SELECT i.system_identifier, i.database_oid, 0, 0, pg_current_xact_id()::text::bigint, 0
FROM :AUDITRUM_SCHEMA._database_identity() i;

/**
 * Why the log's latest restore boundary is missing, or null: the log is in another cluster than the latest boundary
 * names. (Another database of the same cluster, a restore or a copy from a template, counts transactions as the
 * dumped one did: nothing to tell apart.) Where a cluster identifier is unknown (pg_control_system() revoked), a
 * tracked table whose registry row names another relation than its capture triggers are on (what `migrate` rebinds
 * after a restore) says so instead. Until the schema's owner runs migrate, restored rows cannot be told from this
 * cluster's own.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._restore_pending() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT 'the log was restored from another cluster and its restore boundary is not recorded yet: run '
    || '"auditrum migrate" as the schema owner'
  FROM (SELECT * FROM :AUDITRUM_SCHEMA.restore_boundaries ORDER BY id DESC LIMIT 1) b,
    :AUDITRUM_SCHEMA._database_identity() i
  WHERE b.system_identifier <> i.system_identifier
    OR ((b.system_identifier IS NULL OR i.system_identifier IS NULL) AND EXISTS (
      SELECT FROM :AUDITRUM_SCHEMA.tracked_tables t
        JOIN pg_trigger tg ON tg.tgfoid = to_regprocedure(format('%I.%I()', :'AUDITRUM_SCHEMA', 'capture_' || t.id))
      WHERE t.untracked_at IS NULL AND tg.tgrelid <> t.relid))
$$;

/**
 * After pg_upgrade, or any move into a cluster that had counted further than the log's (no row of either log carries
 * a transaction id this cluster has not reached), the log's transaction ids are this cluster's count going on: no
 * new transaction can take a restored one's id, and every restored one has ended. The latest boundary is then marked
 * as of this cluster, with nothing to tell apart (no boundary recorded: a transaction keeps its name). Returns
 * whether the log is in this cluster's count now. The application role may call it (its start-up migrate; `harden`
 * grants it), and seal does: it records only what it has just checked, in one statement whose snapshot sees no
 * transaction this cluster has not begun. Reads both logs whole, once after such a move.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._adopt_continued_cluster() RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  WITH here AS (SELECT i.system_identifier FROM :AUDITRUM_SCHEMA._database_identity() i),
  next AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xid),
  adopted AS (
    UPDATE :AUDITRUM_SCHEMA.restore_boundaries b SET system_identifier = here.system_identifier
    FROM here, next
    WHERE b.id = (SELECT max(x.id) FROM :AUDITRUM_SCHEMA.restore_boundaries x)
      AND b.system_identifier <> here.system_identifier
      AND NOT EXISTS (SELECT FROM :AUDITRUM_SCHEMA.changes c WHERE c.txid >= next.xid)
      AND NOT EXISTS (SELECT FROM :AUDITRUM_SCHEMA.api_requests r WHERE r.txid >= next.xid)
    RETURNING b.id
  )
  SELECT EXISTS (SELECT FROM adopted)
$$;

/**
 * Where the next seal starts, from the last seal and the latest restore boundary:
 * - the restored rows it takes: ids in (restored_after, restored_upto] not in the chain yet. They were all committed
 *   at the boundary, whatever their txid. Those of a restore that a seal has run since (ids up to restored_after)
 *   were taken by that seal: one not in the chain is `inserted`;
 * - the rows written since: ids above floor_id whose transaction ids are from xid_from on (below the seal's own
 *   xmin). With no seal since the latest boundary, every row above it: the seals before were made in another
 *   cluster, whose transaction ids say nothing here.
 * With no restore (the origin alone) this is what seal() read before: the last seal's xmin and the ids drawn before
 * the latest seal whose next transaction id is at most that xmin.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._seal_start(OUT restored_after bigint, OUT restored_upto bigint,
  OUT floor_id bigint, OUT xid_from bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH last_seal AS (SELECT * FROM :AUDITRUM_SCHEMA.seals ORDER BY id DESC LIMIT 1),
  boundary AS (SELECT * FROM :AUDITRUM_SCHEMA.restore_boundaries ORDER BY id DESC LIMIT 1),
  since AS (
    SELECT l.id AS seal_id, l.xid_horizon, b.changes_upto, b.seals_upto,
      l.id IS NOT NULL AND l.id > coalesce(b.seals_upto, 0) AS sealed
    FROM (SELECT 1) one LEFT JOIN last_seal l ON true LEFT JOIN boundary b ON true
  )
  SELECT
    coalesce((SELECT max(b.changes_upto) FROM :AUDITRUM_SCHEMA.restore_boundaries b
              WHERE b.seals_upto < coalesce(s.seal_id, 0)), 0),
    coalesce(s.changes_upto, 0),
    CASE WHEN s.sealed THEN greatest(coalesce(s.changes_upto, 0), coalesce(
      (SELECT max(x.ids_before) FROM :AUDITRUM_SCHEMA.seals x
       WHERE x.id > coalesce(s.seals_upto, 0) AND x.xid_next <= s.xid_horizon), 0))
    ELSE coalesce(s.changes_upto, 0) END,
    CASE WHEN s.sealed THEN s.xid_horizon ELSE 0 END
  FROM since s
$$;

/**
 * seal() of version 12 (see 000012.sql), taking its rows where _seal_start() says: the restored rows not sealed yet,
 * then the rows whose transactions have ended since. It refuses to run while a restore's boundary is not recorded
 * (it could not tell the restored rows from this cluster's).
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA.seal(checkpoint_key text DEFAULT NULL)
RETURNS TABLE (seal_id bigint, rows bigint, last_seq bigint, last_hash bytea, sealed_at timestamptz)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit = off AS $$
#variable_conflict use_column
DECLARE
  prev :AUDITRUM_SCHEMA.seals;
  seal_start record;
  pending text;
  before_ids bigint;
  horizon bigint;
  next_xid bigint;
  after_ids bigint;
  start_hash bytea;
  start_seq bigint;
  sealed bigint;
BEGIN
  IF checkpoint_key IS NOT NULL AND checkpoint_key !~ '^[0-9a-f]{64}$' THEN
    RAISE EXCEPTION 'auditrum: seal(): checkpoint_key must be a SHA-256 fingerprint in lower-case hex, not %', quote_literal(checkpoint_key)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'auditrum: seal() must run in READ COMMITTED, not %', current_setting('transaction_isolation')
      USING ERRCODE = 'invalid_transaction_state';
  END IF;
  pending := :AUDITRUM_SCHEMA._restore_pending();
  IF pending IS NOT NULL AND :AUDITRUM_SCHEMA._adopt_continued_cluster() THEN
    pending := NULL;
  END IF;
  IF pending IS NOT NULL THEN
    RAISE EXCEPTION 'auditrum: seal(): %', pending USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended('auditrum.seal:' || :'AUDITRUM_SCHEMA', 0));
  SELECT * INTO prev FROM :AUDITRUM_SCHEMA.seals s ORDER BY s.id DESC LIMIT 1;
  -- In this order (see 000012.sql): the sequence; this seal's own transaction id; the snapshot and the sequence again.
  SELECT CASE WHEN q.is_called THEN q.last_value ELSE 0 END INTO before_ids FROM :AUDITRUM_SCHEMA.changes_id_seq q;
  next_xid := pg_current_xact_id()::text::bigint;
  SELECT pg_snapshot_xmin(s)::text::bigint,
    (SELECT CASE WHEN q.is_called THEN q.last_value ELSE 0 END FROM :AUDITRUM_SCHEMA.changes_id_seq q)
  INTO horizon, after_ids
  FROM pg_current_snapshot() s;
  SELECT * INTO seal_start FROM :AUDITRUM_SCHEMA._seal_start();
  start_hash := prev.last_hash;
  start_seq := coalesce(prev.last_seq, 0);
  INSERT INTO :AUDITRUM_SCHEMA.chain (seq, change_id, changed_at, digest, hash, format, salt)
  SELECT start_seq + b.n, b.id, b.changed_at, b.digest,
    :AUDITRUM_SCHEMA._chain_running_hash(start_hash, start_seq + b.n, b.digest) OVER (ORDER BY b.id), 2, b.salt
  FROM (
    SELECT d.id, d.changed_at, d.salt, d.digest, row_number() OVER (ORDER BY d.id) AS n
    FROM (
      SELECT c.id, c.changed_at, c.salt, :AUDITRUM_SCHEMA._chain_salted_digest(c.salt, c.id, c.changed_at, c.txid,
        c.table_id, c.operation, c.row_key, c.old_values, c.new_values, c.actor_id, c.request_id, c.context) AS digest
      FROM (
        SELECT c.*, :AUDITRUM_SCHEMA._chain_new_salt() AS salt
        FROM (
          -- The restored rows not sealed yet: none but once after a restore (one pass over the chain then). The first
          -- condition is a one-time filter: otherwise the chain is not read, whatever the plan.
          SELECT c.* FROM :AUDITRUM_SCHEMA.changes c
          WHERE seal_start.restored_upto > seal_start.restored_after
            AND c.id > seal_start.restored_after AND c.id <= seal_start.restored_upto
            AND NOT EXISTS (SELECT FROM :AUDITRUM_SCHEMA.chain l WHERE l.change_id = c.id)
          UNION ALL
          SELECT c.* FROM :AUDITRUM_SCHEMA.changes c
          WHERE c.id > seal_start.floor_id AND c.id <= after_ids AND c.txid >= seal_start.xid_from AND c.txid < horizon
        ) c
      ) c
      OFFSET 0
    ) d
  ) b;
  GET DIAGNOSTICS sealed = ROW_COUNT;
  IF sealed > 0 THEN
    SELECT ch.hash INTO start_hash FROM :AUDITRUM_SCHEMA.chain ch WHERE ch.seq = start_seq + sealed;
  END IF;
  INSERT INTO :AUDITRUM_SCHEMA.seals AS s (rows, last_seq, last_hash, xid_horizon, xid_next, ids_before, ids_after,
    checkpoint_key)
  VALUES (sealed, start_seq + sealed, start_hash, horizon, next_xid, before_ids, after_ids,
    CASE WHEN start_hash IS NOT NULL THEN checkpoint_key END)
  RETURNING s.id, s.rows, s.last_seq, s.last_hash, s.sealed_at INTO seal_id, rows, last_seq, last_hash, sealed_at;
  RETURN NEXT;
END;
$$;

-- chain_status() of version 9, counting what a seal would take where _seal_start() says.
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA.chain_status()
RETURNS TABLE (last_sealed_at timestamptz, last_seq bigint, last_hash bytea, seals bigint, unsealed bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH last_seal AS (SELECT * FROM :AUDITRUM_SCHEMA.seals ORDER BY id DESC LIMIT 1),
  start AS (SELECT * FROM :AUDITRUM_SCHEMA._seal_start())
  SELECT l.sealed_at, coalesce(l.last_seq, 0), l.last_hash, (SELECT count(*) FROM :AUDITRUM_SCHEMA.seals),
    (SELECT count(*) FROM :AUDITRUM_SCHEMA.changes c, start s
     WHERE c.id > s.restored_after AND c.id <= s.restored_upto
       AND NOT EXISTS (SELECT FROM :AUDITRUM_SCHEMA.chain l WHERE l.change_id = c.id))
    + (SELECT count(*) FROM :AUDITRUM_SCHEMA.changes c, start s WHERE c.id > s.floor_id AND c.txid >= s.xid_from)
  FROM (SELECT 1) one LEFT JOIN last_seal l ON true
$$;

-- verify_chain() of version 12 (see 000012.sql), with a row missing from the chain judged where _seal_start() says: a
-- restored row is `inserted` once a seal has run since its restore (it would have taken it), and a row written since
-- once a seal since the latest restore has passed its transaction; a restored row's transaction id, of another
-- cluster's count, is never compared with this cluster's.
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA.verify_chain()
RETURNS TABLE (problem text, seq bigint, change_id bigint, detail text, erasure_id bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET jit = off AS $$
  WITH start AS (SELECT * FROM :AUDITRUM_SCHEMA._seal_start()),
  purged AS (SELECT max(cutoff) AS before FROM :AUDITRUM_SCHEMA.purges WHERE log = 'changes'),
  -- The latest erasure of each erased row: what it left is what the row must still hold.
  erased AS (
    SELECT DISTINCT ON (e.change_id) e.change_id, e.erasure_id, e.digest
    FROM :AUDITRUM_SCHEMA.erased_changes e ORDER BY e.change_id, e.erasure_id DESC
  ),
  -- The links, each with its predecessor's seq and hash: one pass over the chain alone.
  link_problems AS (
    SELECT l.seq, l.change_id, l.prev_seq,
      CASE
        WHEN l.seq <> coalesce(l.prev_seq, 0) + 1 THEN 'missing links'
        WHEN l.hash <> :AUDITRUM_SCHEMA._chain_link_hash(l.prev_hash, l.seq, l.digest) THEN 'altered link'
      END AS problem
    FROM (
      SELECT l.seq, l.change_id, l.digest, l.hash, lag(l.seq) OVER w AS prev_seq, lag(l.hash) OVER w AS prev_hash
      FROM :AUDITRUM_SCHEMA.chain l WINDOW w AS (ORDER BY l.seq)
    ) l
  ),
  -- Each link against its row, and each row without a link: one join of the chain and the log. A row's digest is
  -- computed as its link was sealed (format 1 or 2), or as its latest erasure left it (format 2).
  pairs AS (
    SELECT l.seq, l.change_id, l.changed_at, l.digest AS sealed, c.id AS row_id, c.txid, e.erasure_id,
      coalesce(e.digest, l.digest) AS expected,
      CASE
        WHEN l.seq IS NULL OR c.id IS NULL THEN NULL
        WHEN l.format = 2 OR e.digest IS NOT NULL THEN :AUDITRUM_SCHEMA._chain_salted_digest(l.salt, c.id,
          c.changed_at, c.txid, c.table_id, c.operation, c.row_key, c.old_values, c.new_values, c.actor_id,
          c.request_id, c.context)
        ELSE (SELECT d.digest FROM :AUDITRUM_SCHEMA._chain_digest(c.id, c.changed_at, c.txid, c.table_id,
          c.operation, c.row_key, c.old_values, c.new_values, c.actor_id, c.request_id, c.context) d)
      END AS actual
    FROM :AUDITRUM_SCHEMA.chain l
      FULL JOIN :AUDITRUM_SCHEMA.changes c ON c.id = l.change_id
      LEFT JOIN erased e ON e.change_id = l.change_id
  ),
  row_problems AS MATERIALIZED (
    SELECT * FROM (
      SELECT p.*,
        CASE
          WHEN p.seq IS NULL THEN CASE
            WHEN p.row_id <= (SELECT restored_after FROM start) THEN 'inserted'
            WHEN p.row_id <= (SELECT restored_upto FROM start) THEN NULL
            WHEN p.txid < (SELECT xid_from FROM start) THEN 'inserted'
            WHEN p.txid >= pg_snapshot_xmax(pg_current_snapshot())::text::bigint THEN 'inserted'
          END
          WHEN p.row_id IS NULL THEN CASE WHEN p.changed_at < (SELECT before FROM purged) THEN NULL ELSE 'deleted' END
          WHEN p.actual IS DISTINCT FROM p.expected THEN 'changed'
          WHEN p.erasure_id IS NOT NULL THEN 'erased'
        END AS problem
      FROM pairs p
    ) r WHERE r.problem IS NOT NULL
  ),
  changed AS (SELECT * FROM row_problems f WHERE f.problem = 'changed'),
  -- A changed row that holds what another link sealed: a link pointed at another row (the row gives the digest of
  -- the other link that points at it), or rows whose ids were swapped (its values under the other link's id give
  -- that link's digest; tried among the first 1,000 changed rows, pair by pair). Each candidate is hashed with the
  -- other link's salt and format.
  candidates AS (
    SELECT f.seq AS at_seq, ch.seq, ch.change_id, ch.format, ch.salt, ch.digest, c.*
    FROM changed f JOIN :AUDITRUM_SCHEMA.chain ch ON ch.change_id = f.row_id AND ch.seq <> f.seq
      JOIN :AUDITRUM_SCHEMA.changes c ON c.id = f.row_id
    UNION ALL
    SELECT f.seq, g.seq, g.change_id, ch.format, ch.salt, g.sealed, c.*
    FROM (SELECT * FROM changed ORDER BY seq LIMIT 1000) f
      JOIN :AUDITRUM_SCHEMA.changes c ON c.id = f.row_id
      JOIN (SELECT * FROM changed ORDER BY seq LIMIT 1000) g ON g.seq <> f.seq
      JOIN :AUDITRUM_SCHEMA.chain ch ON ch.seq = g.seq
  ),
  -- Computed once (the chain scanned once for every changed row), then looked up per changed row.
  moved AS MATERIALIZED (
    SELECT m.at_seq, m.seq, m.change_id
    FROM candidates m
    WHERE m.digest = CASE WHEN m.format = 2
      THEN :AUDITRUM_SCHEMA._chain_salted_digest(m.salt, m.change_id, m.changed_at, m.txid, m.table_id, m.operation,
        m.row_key, m.old_values, m.new_values, m.actor_id, m.request_id, m.context)
      ELSE (SELECT d.digest FROM :AUDITRUM_SCHEMA._chain_digest(m.change_id, m.changed_at, m.txid, m.table_id,
        m.operation, m.row_key, m.old_values, m.new_values, m.actor_id, m.request_id, m.context) d) END
  )
  SELECT l.problem, l.seq, CASE l.problem WHEN 'altered link' THEN l.change_id END,
    CASE l.problem
      WHEN 'missing links' THEN format('links %s to %s are missing', coalesce(l.prev_seq, 0) + 1, l.seq - 1)
      ELSE format('link %s''s hash is not the hash of link %s, its seq and its digest', l.seq, l.prev_seq)
    END,
    NULL::bigint
  FROM link_problems l WHERE l.problem IS NOT NULL
  UNION ALL
  SELECT CASE WHEN m.seq IS NOT NULL THEN 'reordered' ELSE f.problem END,
    f.seq, coalesce(f.change_id, f.row_id),
    CASE f.problem
      WHEN 'inserted' THEN format('row %s (transaction %s) was never sealed', f.row_id, f.txid)
      WHEN 'deleted' THEN format('row %s, sealed at link %s, is gone', f.change_id, f.seq)
      WHEN 'erased' THEN format('row %s, sealed at link %s, was erased by erasure %s', f.change_id, f.seq,
        f.erasure_id)
      ELSE CASE
        WHEN m.seq IS NOT NULL THEN format('row %s, sealed at link %s, now holds what link %s sealed (row %s)',
          f.change_id, f.seq, m.seq, m.change_id)
        WHEN f.erasure_id IS NOT NULL THEN format('row %s, sealed at link %s, was changed (erased by erasure %s%s)',
          f.change_id, f.seq, f.erasure_id,
          CASE WHEN f.expected IS DISTINCT FROM f.sealed THEN ', since' ELSE ', but changed before it' END)
        ELSE format('row %s, sealed at link %s, was changed', f.change_id, f.seq) END
    END,
    f.erasure_id
  FROM row_problems f
    LEFT JOIN LATERAL (SELECT * FROM moved WHERE f.problem = 'changed' AND moved.at_seq = f.seq LIMIT 1) m ON true
$$;
