-- Auditrum schema, version 9: a tamper-evident chain over the change log, built off the write path.
--
-- Capture is unchanged: writers take no chain lock and compute no hash. A maintenance step, seal(), appends the
-- rows whose transactions have ended to `chain`, one link per row, in the order sealed; verify() recomputes every
-- link in the server. See docs/compliance.md (the chain) for the design and what it proves.

-- One link per sealed change row. digest covers the row's stored columns and context (_chain_digest); hash covers
-- the previous link's hash, the link's seq and the digest. Links are never updated or deleted, also not by purge: a
-- purged row's link stays, so the chain verifies from its start after any purge (verify names such rows purged,
-- with the purge that removed them).
CREATE TABLE :AUDITRUM_SCHEMA.chain (
  seq bigint PRIMARY KEY,
  change_id bigint NOT NULL,
  changed_at timestamptz NOT NULL,
  digest bytea NOT NULL,
  hash bytea NOT NULL
);

-- One row per seal run: it sealed the links after the previous run's last_seq up to its own. xid_horizon (the
-- snapshot's xmin): every transaction below it had ended when the seal took its snapshot, and every row of
-- those transactions is sealed in this run or before. xid_next (the snapshot's xmax): transactions from it on began after the snapshot.
-- ids_before: the change-log sequence read just before the snapshot, so a transaction from xid_next on has only larger
-- ids (its xid was assigned before its rows' ids were drawn). ids_after: the sequence read after the snapshot, so
-- every row of a transaction below xid_horizon has an id no larger.
CREATE TABLE :AUDITRUM_SCHEMA.seals (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sealed_at timestamptz NOT NULL DEFAULT now(),
  sealed_by name NOT NULL DEFAULT session_user,
  rows bigint NOT NULL,
  last_seq bigint NOT NULL,
  last_hash bytea,
  xid_horizon bigint NOT NULL,
  xid_next bigint NOT NULL,
  ids_before bigint NOT NULL,
  ids_after bigint NOT NULL
);

-- Append-only for everyone, the owner included: a change to a link or a seal is refused (a superuser can still drop
-- this trigger; verify and the signed checkpoints are what catch that).
CREATE FUNCTION :AUDITRUM_SCHEMA._chain_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'auditrum: %.% is append-only (% refused)', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._chain_append_only() FROM PUBLIC;
CREATE TRIGGER chain_append_only BEFORE UPDATE OR DELETE ON :AUDITRUM_SCHEMA.chain
  FOR EACH ROW EXECUTE FUNCTION :AUDITRUM_SCHEMA._chain_append_only();
CREATE TRIGGER chain_no_truncate BEFORE TRUNCATE ON :AUDITRUM_SCHEMA.chain
  FOR EACH STATEMENT EXECUTE FUNCTION :AUDITRUM_SCHEMA._chain_append_only();
CREATE TRIGGER seals_append_only BEFORE UPDATE OR DELETE ON :AUDITRUM_SCHEMA.seals
  FOR EACH ROW EXECUTE FUNCTION :AUDITRUM_SCHEMA._chain_append_only();
CREATE TRIGGER seals_no_truncate BEFORE TRUNCATE ON :AUDITRUM_SCHEMA.seals
  FOR EACH STATEMENT EXECUTE FUNCTION :AUDITRUM_SCHEMA._chain_append_only();

-- The row hash's building blocks. They have no SET search_path, so that PostgreSQL inlines them into seal() and
-- verify_chain() (which run with search_path = pg_catalog, pg_temp) and does not save and restore a setting on each
-- of the millions of calls; every name in them is qualified.

-- The hash of one stored value that may be personal: SHA-256 of the field's name, a zero byte, then 0 for NULL or 1
-- and the value's text. Such values are hashed one by one so that a later erasure (a person's value replaced with a
-- marker) can keep the old value's hash instead of the value, and a verifier can tell an erased value from a changed
-- one.
CREATE FUNCTION :AUDITRUM_SCHEMA._chain_value_hash(field text, value text) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT pg_catalog.sha256(pg_catalog.convert_to(field, 'UTF8') OPERATOR(pg_catalog.||) '\x00'::bytea
    OPERATOR(pg_catalog.||) CASE WHEN value IS NULL THEN '\x00'::bytea
      ELSE '\x01'::bytea OPERATOR(pg_catalog.||) pg_catalog.convert_to(value, 'UTF8') END)
$$;

-- A value that is not personal (times, ids, the operation, the request id), taken as it is: its length (-1 for NULL)
-- as 4 bytes, then its text, so that no two sequences of values give the same bytes.
CREATE FUNCTION :AUDITRUM_SCHEMA._chain_raw(value text) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN value IS NULL THEN pg_catalog.int4send(-1)
    ELSE pg_catalog.int4send(pg_catalog.octet_length(value)) OPERATOR(pg_catalog.||) pg_catalog.convert_to(value, 'UTF8') END
$$;

-- A change row's digest: SHA-256 over, in this order, its id, txid and table id (8, 8 and 4 bytes), its time as
-- seconds since the epoch in UTC (not its text, which follows the session's TimeZone and DateStyle: the original's
-- verify failed every row hashed in another zone), its operation and request id (_chain_raw), the hashes of its row
-- key and actor (_chain_value_hash), and for old_values, new_values and context: a byte 0 (NULL), 1 and the value's
-- hash (not an object), or 2 and one hash per top-level key, named column.key, in jsonb's own key order (shorter keys
-- first, then byte order). jsonb's text is canonical and depends on no setting. A column added to `changes` must be
-- added here (a test changes each column and expects verify to name it). A function of one row, used as
-- `CROSS JOIN LATERAL _chain_digest(c.id, …)`: PostgreSQL inlines such a function into the query (a scalar SQL
-- function with subqueries it would run as a query of its own per row, five times slower).
CREATE FUNCTION :AUDITRUM_SCHEMA._chain_digest(id bigint, changed_at timestamptz, txid bigint, table_id integer,
  operation text, row_key text, old_values jsonb, new_values jsonb, actor_id text, request_id text, context jsonb)
RETURNS TABLE (digest bytea)
LANGUAGE sql IMMUTABLE PARALLEL SAFE ROWS 1 AS $$
  SELECT pg_catalog.sha256(
    pg_catalog.int8send(id) OPERATOR(pg_catalog.||) pg_catalog.int8send(txid)
    OPERATOR(pg_catalog.||) pg_catalog.int4send(table_id)
    OPERATOR(pg_catalog.||) :AUDITRUM_SCHEMA._chain_raw(EXTRACT(epoch FROM changed_at)::text)
    OPERATOR(pg_catalog.||) :AUDITRUM_SCHEMA._chain_raw(operation)
    OPERATOR(pg_catalog.||) :AUDITRUM_SCHEMA._chain_raw(request_id)
    OPERATOR(pg_catalog.||) :AUDITRUM_SCHEMA._chain_value_hash('row_key', row_key)
    OPERATOR(pg_catalog.||) :AUDITRUM_SCHEMA._chain_value_hash('actor_id', actor_id)
    OPERATOR(pg_catalog.||) CASE
      WHEN old_values IS NULL THEN '\x00'::bytea
      WHEN pg_catalog.jsonb_typeof(old_values) OPERATOR(pg_catalog.<>) 'object'
        THEN '\x01'::bytea OPERATOR(pg_catalog.||) :AUDITRUM_SCHEMA._chain_value_hash('old_values', old_values::text)
      ELSE '\x02'::bytea OPERATOR(pg_catalog.||) coalesce((SELECT pg_catalog.string_agg(
        :AUDITRUM_SCHEMA._chain_value_hash('old_values.' OPERATOR(pg_catalog.||) e.key, e.value::text), ''::bytea)
        FROM pg_catalog.jsonb_each(old_values) e), ''::bytea) END
    OPERATOR(pg_catalog.||) CASE
      WHEN new_values IS NULL THEN '\x00'::bytea
      WHEN pg_catalog.jsonb_typeof(new_values) OPERATOR(pg_catalog.<>) 'object'
        THEN '\x01'::bytea OPERATOR(pg_catalog.||) :AUDITRUM_SCHEMA._chain_value_hash('new_values', new_values::text)
      ELSE '\x02'::bytea OPERATOR(pg_catalog.||) coalesce((SELECT pg_catalog.string_agg(
        :AUDITRUM_SCHEMA._chain_value_hash('new_values.' OPERATOR(pg_catalog.||) e.key, e.value::text), ''::bytea)
        FROM pg_catalog.jsonb_each(new_values) e), ''::bytea) END
    OPERATOR(pg_catalog.||) CASE
      WHEN context IS NULL THEN '\x00'::bytea
      WHEN pg_catalog.jsonb_typeof(context) OPERATOR(pg_catalog.<>) 'object'
        THEN '\x01'::bytea OPERATOR(pg_catalog.||) :AUDITRUM_SCHEMA._chain_value_hash('context', context::text)
      ELSE '\x02'::bytea OPERATOR(pg_catalog.||) coalesce((SELECT pg_catalog.string_agg(
        :AUDITRUM_SCHEMA._chain_value_hash('context.' OPERATOR(pg_catalog.||) e.key, e.value::text), ''::bytea)
        FROM pg_catalog.jsonb_each(context) e), ''::bytea) END)
$$;

-- A link's hash: SHA-256 of the previous link's hash (32 zero bytes before the first), the seq as 8 bytes, and the
-- row's digest.
CREATE FUNCTION :AUDITRUM_SCHEMA._chain_link_hash(prev bytea, seq bigint, digest bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT pg_catalog.sha256(coalesce(prev, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
    OPERATOR(pg_catalog.||) pg_catalog.int8send(seq) OPERATOR(pg_catalog.||) digest)
$$;

-- The running hash of the links in seq order, as a window aggregate: the state starts at `start` (the last sealed
-- hash) and each row folds in its seq and digest, so that a seal hashes a whole batch in one set-based INSERT. In
-- PL/pgSQL: an aggregate's step is called, never inlined, and PL/pgSQL evaluates one expression faster than SQL runs
-- a query.
CREATE FUNCTION :AUDITRUM_SCHEMA._chain_fold(state bytea, start bytea, seq bigint, digest bytea) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RETURN pg_catalog.sha256(coalesce(state, start, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
    OPERATOR(pg_catalog.||) pg_catalog.int8send(seq) OPERATOR(pg_catalog.||) digest);
END;
$$;
CREATE AGGREGATE :AUDITRUM_SCHEMA._chain_running_hash(bytea, bigint, bytea) (
  SFUNC = :AUDITRUM_SCHEMA._chain_fold,
  STYPE = bytea
);

-- seal() and verify_chain() run with JIT off: their cost is in hashing calls that JIT does not speed up, and its
-- compiling took seconds per call on small logs whose size the planner overestimates.

/**
 * Seals the change rows whose transactions have ended: appends a link for each to `chain` and records the run in
 * `seals`. Writers are never waited for: a row is taken only once its transaction is below the snapshot's xmin
 * (it has committed or rolled back, and nothing can commit behind it), so a transaction still open keeps its rows,
 * and the rows of later transactions, out of the chain's order only until a later seal. Seals run one at a time
 * (a transaction-level advisory lock); must run in READ COMMITTED, so that each statement sees what ended before it.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.seal()
RETURNS TABLE (seal_id bigint, rows bigint, last_seq bigint, last_hash bytea, sealed_at timestamptz)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit = off AS $$
#variable_conflict use_column
DECLARE
  prev :AUDITRUM_SCHEMA.seals;
  before_ids bigint;
  horizon bigint;
  next_xid bigint;
  after_ids bigint;
  floor_id bigint;
  start_hash bytea;
  start_seq bigint;
  sealed bigint;
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'auditrum: seal() must run in READ COMMITTED, not %', current_setting('transaction_isolation')
      USING ERRCODE = 'invalid_transaction_state';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended('auditrum.seal:' || :'AUDITRUM_SCHEMA', 0));
  SELECT * INTO prev FROM :AUDITRUM_SCHEMA.seals s ORDER BY s.id DESC LIMIT 1;
  -- Three statements, three snapshots, in this order (see the seals table).
  SELECT CASE WHEN q.is_called THEN q.last_value ELSE 0 END INTO before_ids FROM :AUDITRUM_SCHEMA.changes_id_seq q;
  SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint,
    (SELECT CASE WHEN q.is_called THEN q.last_value ELSE 0 END FROM :AUDITRUM_SCHEMA.changes_id_seq q)
  INTO horizon, next_xid, after_ids
  FROM pg_current_snapshot() s;
  -- Rows not sealed yet are those of transactions from the previous xmin on; such a transaction began after the
  -- snapshot of the latest seal whose xmax is at most that xmin, so its ids are above that seal's ids_before.
  SELECT coalesce(max(s.ids_before), 0) INTO floor_id FROM :AUDITRUM_SCHEMA.seals s WHERE s.xid_next <= coalesce(prev.xid_horizon, 0);
  start_hash := prev.last_hash;
  start_seq := coalesce(prev.last_seq, 0);
  WITH batch AS (
    SELECT c.id, c.changed_at, d.digest, start_seq + row_number() OVER (ORDER BY c.id) AS seq
    FROM :AUDITRUM_SCHEMA.changes c
      CROSS JOIN LATERAL :AUDITRUM_SCHEMA._chain_digest(c.id, c.changed_at, c.txid, c.table_id, c.operation, c.row_key,
        c.old_values, c.new_values, c.actor_id, c.request_id, c.context) d
    WHERE c.id > floor_id AND c.id <= after_ids AND c.txid >= coalesce(prev.xid_horizon, 0) AND c.txid < horizon
  )
  INSERT INTO :AUDITRUM_SCHEMA.chain (seq, change_id, changed_at, digest, hash)
  SELECT b.seq, b.id, b.changed_at, b.digest,
    :AUDITRUM_SCHEMA._chain_running_hash(start_hash, b.seq, b.digest) OVER (ORDER BY b.seq)
  FROM batch b;
  GET DIAGNOSTICS sealed = ROW_COUNT;
  IF sealed > 0 THEN
    SELECT ch.hash INTO start_hash FROM :AUDITRUM_SCHEMA.chain ch WHERE ch.seq = start_seq + sealed;
  END IF;
  INSERT INTO :AUDITRUM_SCHEMA.seals AS s (rows, last_seq, last_hash, xid_horizon, xid_next, ids_before, ids_after)
  VALUES (sealed, start_seq + sealed, start_hash, horizon, next_xid, before_ids, after_ids)
  RETURNING s.id, s.rows, s.last_seq, s.last_hash, s.sealed_at INTO seal_id, rows, last_seq, last_hash, sealed_at;
  RETURN NEXT;
END;
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA.seal() FROM PUBLIC;

-- What a seal would take now, without taking it: the rows of transactions from the last seal's xmin on (not sealed
-- yet, committed or still open), and the last seal. Reads one id range of the log, not the whole log.
CREATE FUNCTION :AUDITRUM_SCHEMA.chain_status()
RETURNS TABLE (last_sealed_at timestamptz, last_seq bigint, last_hash bytea, seals bigint, unsealed bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  WITH last_seal AS (SELECT * FROM :AUDITRUM_SCHEMA.seals ORDER BY id DESC LIMIT 1),
  floor_id AS (
    SELECT coalesce(max(s.ids_before), 0) AS id FROM :AUDITRUM_SCHEMA.seals s
    WHERE s.xid_next <= coalesce((SELECT xid_horizon FROM last_seal), 0))
  SELECT l.sealed_at, coalesce(l.last_seq, 0), l.last_hash, (SELECT count(*) FROM :AUDITRUM_SCHEMA.seals),
    (SELECT count(*) FROM :AUDITRUM_SCHEMA.changes c
     WHERE c.id > (SELECT id FROM floor_id) AND c.txid >= coalesce((SELECT xid_horizon FROM last_seal), 0))
  FROM (SELECT 1) one LEFT JOIN last_seal l ON true
$$;

/**
 * Every break of the chain, checked in the server in one pass over `chain` and `changes`:
 * - `changed`: a sealed row's stored values no longer give the digest sealed;
 * - `reordered`: a sealed row now holds what another link sealed (rows' contents or ids swapped);
 * - `deleted`: a sealed row is gone, and no purge removed it (a row older than a recorded purge's cut-off was purged);
 * - `inserted`: a row that is not in the chain though a seal should have taken it (its transaction ended before the
 *   last seal), or whose transaction id was never assigned;
 * - `missing links`: seqs missing from the chain (the chain's own rows deleted);
 * - `altered link`: a link whose hash is not the hash of its predecessor, seq and digest.
 * A chain cut short at its end (the last links and their rows deleted) shows only against a checkpoint kept
 * elsewhere: nothing inside the database remembers how long it was.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.verify_chain()
RETURNS TABLE (problem text, seq bigint, change_id bigint, detail text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET jit = off AS $$
  WITH last_seal AS (SELECT * FROM :AUDITRUM_SCHEMA.seals ORDER BY id DESC LIMIT 1),
  purged AS (SELECT max(cutoff) AS before FROM :AUDITRUM_SCHEMA.purges WHERE log = 'changes'),
  links AS (
    SELECT l.seq, l.change_id, l.changed_at, l.digest, l.hash,
      lag(l.seq) OVER w AS prev_seq, lag(l.hash) OVER w AS prev_hash
    FROM :AUDITRUM_SCHEMA.chain l WINDOW w AS (ORDER BY l.seq)
  ),
  pairs AS (
    SELECT l.seq, l.change_id, l.changed_at, l.digest, l.hash, l.prev_seq, l.prev_hash, c.id AS row_id, c.txid,
      c.digest AS actual
    FROM links l FULL JOIN (
      SELECT c.id, c.txid, d.digest FROM :AUDITRUM_SCHEMA.changes c
        CROSS JOIN LATERAL :AUDITRUM_SCHEMA._chain_digest(c.id, c.changed_at, c.txid, c.table_id, c.operation,
          c.row_key, c.old_values, c.new_values, c.actor_id, c.request_id, c.context) d
    ) c ON c.id = l.change_id
  ),
  broken AS MATERIALIZED (
    SELECT p.*,
      CASE
        WHEN p.seq IS NULL THEN CASE
          WHEN p.txid < (SELECT xid_horizon FROM last_seal) THEN 'inserted'
          WHEN p.txid >= pg_snapshot_xmax(pg_current_snapshot())::text::bigint THEN 'inserted'
        END
        WHEN p.row_id IS NULL THEN CASE WHEN p.changed_at < (SELECT before FROM purged) THEN NULL ELSE 'deleted' END
        WHEN p.actual <> p.digest THEN 'changed'
      END AS row_problem,
      CASE
        WHEN p.seq IS NULL THEN NULL
        WHEN p.seq <> coalesce(p.prev_seq, 0) + 1 THEN 'missing links'
        WHEN p.hash <> :AUDITRUM_SCHEMA._chain_link_hash(p.prev_hash, p.seq, p.digest) THEN 'altered link'
      END AS link_problem
    FROM pairs p
  ),
  found AS MATERIALIZED (SELECT * FROM broken b WHERE b.row_problem IS NOT NULL OR b.link_problem IS NOT NULL),
  changed AS (SELECT * FROM found f WHERE f.row_problem = 'changed'),
  -- A changed row that holds what another link sealed: a link pointed at another row (its digest is that link's), or
  -- rows whose ids were swapped (its values under the other link's id give that link's digest; tried among the
  -- first 1,000 changed rows, pair by pair).
  moved AS (
    SELECT f.seq AS at_seq, ch.seq, ch.change_id
    FROM changed f JOIN :AUDITRUM_SCHEMA.chain ch ON ch.digest = f.actual AND ch.seq <> f.seq
    UNION ALL
    SELECT f.seq, g.seq, g.change_id
    FROM (SELECT * FROM changed ORDER BY seq LIMIT 1000) f
      JOIN :AUDITRUM_SCHEMA.changes c ON c.id = f.row_id
      JOIN (SELECT * FROM changed ORDER BY seq LIMIT 1000) g ON g.seq <> f.seq
      CROSS JOIN LATERAL :AUDITRUM_SCHEMA._chain_digest(g.change_id, c.changed_at, c.txid, c.table_id, c.operation,
        c.row_key, c.old_values, c.new_values, c.actor_id, c.request_id, c.context) d
    WHERE d.digest = g.digest
  )
  SELECT 'missing links', f.seq, NULL::bigint,
    format('links %s to %s are missing', coalesce(f.prev_seq, 0) + 1, f.seq - 1)
  FROM found f WHERE f.link_problem = 'missing links'
  UNION ALL
  SELECT 'altered link', f.seq, f.change_id,
    format('link %s''s hash is not the hash of link %s, its seq and its digest', f.seq, f.prev_seq)
  FROM found f WHERE f.link_problem = 'altered link'
  UNION ALL
  SELECT CASE WHEN m.seq IS NOT NULL THEN 'reordered' ELSE f.row_problem END,
    f.seq, coalesce(f.change_id, f.row_id),
    CASE f.row_problem
      WHEN 'inserted' THEN format('row %s (transaction %s) was never sealed', f.row_id, f.txid)
      WHEN 'deleted' THEN format('row %s, sealed at link %s, is gone', f.change_id, f.seq)
      ELSE CASE WHEN m.seq IS NOT NULL
        THEN format('row %s, sealed at link %s, now holds what link %s sealed (row %s)', f.change_id, f.seq, m.seq, m.change_id)
        ELSE format('row %s, sealed at link %s, was changed', f.change_id, f.seq) END
    END
  FROM found f LEFT JOIN LATERAL (SELECT * FROM moved WHERE moved.at_seq = f.seq LIMIT 1) m ON f.row_problem = 'changed'
  WHERE f.row_problem IS NOT NULL
$$;
