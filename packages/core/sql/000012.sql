-- Auditrum schema, version 12: the chain's verifications and erasures (GDPR art. 17) recorded, and whether a seal
-- emitted a signed checkpoint.
--
-- `verifications` keeps each `auditrum verify` run's result (what the admin's integrity panel shows as the last
-- verify); `erasures` and `erased_changes` keep each erasure: who asked, why, and which change rows it touched, so
-- that verify reports those rows as erased (with the erasure), not as tampered. All three are append-only, as the
-- chain and the seals are. See docs/compliance.md.

-- One row per `auditrum verify` run (verify records its result; a run by a role that may not insert still verifies).
CREATE TABLE :AUDITRUM_SCHEMA.verifications (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  verified_at timestamptz NOT NULL DEFAULT now(),
  verified_by name NOT NULL DEFAULT session_user,
  links bigint NOT NULL,             -- links checked
  problems bigint NOT NULL,          -- breaks found; 0 = the chain verified
  erased bigint NOT NULL DEFAULT 0,  -- rows reported as erased (not breaks)
  checkpoints integer,               -- checkpoints checked; NULL = run without a checkpoint file
  checkpoint_failures integer,
  newest_checkpoint_at timestamptz   -- time of the newest checkpoint the file held
);

-- One row per erasure (GDPR art. 17).
CREATE TABLE :AUDITRUM_SCHEMA.erasures (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  erased_at timestamptz NOT NULL DEFAULT now(),
  erased_by name NOT NULL DEFAULT session_user,  -- the database role
  actor text,                                    -- who asked for it (CLI --actor, the admin user)
  reason text NOT NULL,
  subject jsonb NOT NULL,        -- {"actor_id": "..."} or {"table": "public.users", "key": <key>, "columns": [...]}
  changes bigint NOT NULL,       -- change rows whose values were erased
  api_requests bigint NOT NULL   -- API-log rows whose bodies were masked
);

-- Which change rows an erasure touched.
CREATE TABLE :AUDITRUM_SCHEMA.erased_changes (
  erasure_id bigint NOT NULL REFERENCES :AUDITRUM_SCHEMA.erasures (id),
  change_id bigint NOT NULL,
  PRIMARY KEY (change_id, erasure_id)
);
CREATE INDEX erased_changes_erasure_idx ON :AUDITRUM_SCHEMA.erased_changes (erasure_id);

CREATE TRIGGER verifications_append_only BEFORE UPDATE OR DELETE ON :AUDITRUM_SCHEMA.verifications
  FOR EACH ROW EXECUTE FUNCTION :AUDITRUM_SCHEMA._chain_append_only();
CREATE TRIGGER verifications_no_truncate BEFORE TRUNCATE ON :AUDITRUM_SCHEMA.verifications
  FOR EACH STATEMENT EXECUTE FUNCTION :AUDITRUM_SCHEMA._chain_append_only();
CREATE TRIGGER erasures_append_only BEFORE UPDATE OR DELETE ON :AUDITRUM_SCHEMA.erasures
  FOR EACH ROW EXECUTE FUNCTION :AUDITRUM_SCHEMA._chain_append_only();
CREATE TRIGGER erasures_no_truncate BEFORE TRUNCATE ON :AUDITRUM_SCHEMA.erasures
  FOR EACH STATEMENT EXECUTE FUNCTION :AUDITRUM_SCHEMA._chain_append_only();
CREATE TRIGGER erased_changes_append_only BEFORE UPDATE OR DELETE ON :AUDITRUM_SCHEMA.erased_changes
  FOR EACH ROW EXECUTE FUNCTION :AUDITRUM_SCHEMA._chain_append_only();
CREATE TRIGGER erased_changes_no_truncate BEFORE TRUNCATE ON :AUDITRUM_SCHEMA.erased_changes
  FOR EACH STATEMENT EXECUTE FUNCTION :AUDITRUM_SCHEMA._chain_append_only();

-- Whether a seal emitted a signed checkpoint: the SHA-256 fingerprint (hex) of the signing key's public half (its
-- DER SubjectPublicKeyInfo), NULL when the seal signed none. The key itself never enters the database.
ALTER TABLE :AUDITRUM_SCHEMA.seals ADD COLUMN checkpoint_key text
  CHECK (checkpoint_key ~ '^[0-9a-f]{64}$');

-- seal() takes that fingerprint: the caller signs the checkpoint of the link this seal returns, in the same
-- transaction (a new signature; the version 9 one is dropped, so that a call without an argument is not ambiguous).
DROP FUNCTION :AUDITRUM_SCHEMA.seal();
CREATE FUNCTION :AUDITRUM_SCHEMA.seal(checkpoint_key text DEFAULT NULL)
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
  IF checkpoint_key IS NOT NULL AND checkpoint_key !~ '^[0-9a-f]{64}$' THEN
    RAISE EXCEPTION 'auditrum: seal(): checkpoint_key must be a SHA-256 fingerprint in lower-case hex, not %', quote_literal(checkpoint_key)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
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
  INSERT INTO :AUDITRUM_SCHEMA.seals AS s (rows, last_seq, last_hash, xid_horizon, xid_next, ids_before, ids_after,
    checkpoint_key)
  VALUES (sealed, start_seq + sealed, start_hash, horizon, next_xid, before_ids, after_ids,
    CASE WHEN start_hash IS NOT NULL THEN checkpoint_key END)
  RETURNING s.id, s.rows, s.last_seq, s.last_hash, s.sealed_at INTO seal_id, rows, last_seq, last_hash, sealed_at;
  RETURN NEXT;
END;
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA.seal(text) FROM PUBLIC;
