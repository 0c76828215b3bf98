-- Auditrum schema, version 12: a faster chain whose rows can be erased (GDPR art. 17), and the chain's verifications
-- and erasures recorded.
--
-- Link format 2: a row's digest is one SHA-256 of a random salt of its link and the row's record text (version 9's
-- hashed each value on its own, several hashes and a jsonb_each a row). An erasure (erase()) replaces a person's
-- values with a marker, replaces the salt of each sealed row it touched, and records the digest of what it left:
-- verify reports those rows as erased, and nothing left in the database tells the erased values. Version 9's links
-- (format 1) still verify as sealed. `verifications` keeps each `auditrum verify` run's result, `erasures` and
-- `erased_changes` each erasure (who, why, which rows); all three are append-only, as the chain and the seals are,
-- and seals record the fingerprint of the key that signed their checkpoint. See docs/compliance.md.

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

-- Which change rows an erasure touched. digest: what the erasure left of a sealed row, its digest in link format 2
-- under the link's new salt (see erase()); NULL when the row was not sealed yet (its link, sealed later, holds the
-- erased values) or no longer matched its link when it was erased (it stays `changed`: an erasure never hides an
-- earlier change). Nothing of the erased values is kept.
CREATE TABLE :AUDITRUM_SCHEMA.erased_changes (
  erasure_id bigint NOT NULL REFERENCES :AUDITRUM_SCHEMA.erasures (id),
  change_id bigint NOT NULL,
  digest bytea,
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

-- Links get a format and a salt. Format 1 (version 9's links): the digest of _chain_digest, no salt. Format 2: the
-- digest of _chain_salted_digest, with a random salt of the link's own.
ALTER TABLE :AUDITRUM_SCHEMA.chain ADD COLUMN format smallint NOT NULL DEFAULT 1 CHECK (format IN (1, 2)),
  ADD COLUMN salt bytea;
ALTER TABLE :AUDITRUM_SCHEMA.chain ALTER COLUMN format DROP DEFAULT;

-- The digest of link format 2: SHA-256 of a format byte, the link's salt and the row's record text. Every column is
-- in it, the time as seconds since the epoch (UTC: never the session's TimeZone or DateStyle); a record's text is
-- canonical (each value quoted when needed, NULL empty and "" the empty string) and jsonb's text depends on no
-- setting. One hash a row. The salt is 16 random bytes that an erasure replaces: the digest sealed before then can
-- no longer be recomputed, so nothing left in the database tells an erased value, however few values it could
-- have had (an unsalted hash of a birth date is found by trying them all). A column added to `changes` must be
-- added here (a test changes each column and expects verify to name it). No SET search_path: PostgreSQL then
-- inlines it into seal(), verify_chain() and erase(), which run with search_path = pg_catalog, pg_temp.
CREATE FUNCTION :AUDITRUM_SCHEMA._chain_salted_digest(salt bytea, id bigint, changed_at timestamptz, txid bigint,
  table_id integer, operation text, row_key text, old_values jsonb, new_values jsonb, actor_id text,
  request_id text, context jsonb)
RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT pg_catalog.sha256('\x02'::bytea OPERATOR(pg_catalog.||) salt OPERATOR(pg_catalog.||) pg_catalog.convert_to(
    ROW(id, txid, table_id, EXTRACT(epoch FROM changed_at), operation, row_key, old_values, new_values, actor_id,
      request_id, context)::text, 'UTF8'))
$$;

-- A new link's salt: 16 bytes of a version 4 UUID, 122 of them random (pg_strong_random, as gen_random_uuid()).
CREATE FUNCTION :AUDITRUM_SCHEMA._chain_new_salt() RETURNS bytea
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  SELECT pg_catalog.uuid_send(pg_catalog.gen_random_uuid())
$$;

-- seal() takes that fingerprint: the caller signs the checkpoint of the link this seal returns, in the same
-- transaction (a new signature; the version 9 one is dropped, so that a call without an argument is not ambiguous).
DROP FUNCTION :AUDITRUM_SCHEMA.seal();
/**
 * Seals the change rows whose transactions have ended: appends a link for each to `chain` (format 2: a salt of its
 * own and _chain_salted_digest) and records the run in `seals`. Writers are never waited for: a row is taken only
 * once its transaction is below the snapshot's xmin (it has committed or rolled back, and nothing can commit behind
 * it), so a transaction still open keeps its rows, and the rows of later transactions, out of the chain's order only
 * until a later seal. Seals run one at a time (a transaction-level advisory lock, which erase() takes too); must run
 * in READ COMMITTED, so that each statement sees what ended before it. checkpoint_key: the fingerprint of the key
 * that signs this seal's checkpoint (recorded when the chain is not empty).
 */
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
  -- In this order (see the seals table): the sequence; then this seal's own transaction id, assigned now, as
  -- xid_next: a transaction with a later id got it after the sequence was read, so its rows have larger ids (version
  -- 9 recorded the snapshot's xmax, which is the newest ended transaction id plus one: a transaction still open, with
  -- an id at or above it and rows drawn before, had its rows skipped by later seals); then the snapshot and the
  -- sequence again.
  SELECT CASE WHEN q.is_called THEN q.last_value ELSE 0 END INTO before_ids FROM :AUDITRUM_SCHEMA.changes_id_seq q;
  next_xid := pg_current_xact_id()::text::bigint;
  SELECT pg_snapshot_xmin(s)::text::bigint,
    (SELECT CASE WHEN q.is_called THEN q.last_value ELSE 0 END FROM :AUDITRUM_SCHEMA.changes_id_seq q)
  INTO horizon, after_ids
  FROM pg_current_snapshot() s;
  -- Rows not sealed yet are those of transactions from the previous xmin on; such a transaction began after the
  -- snapshot of the latest seal whose xmax is at most that xmin, so its ids are above that seal's ids_before.
  SELECT coalesce(max(s.ids_before), 0) INTO floor_id FROM :AUDITRUM_SCHEMA.seals s WHERE s.xid_next <= coalesce(prev.xid_horizon, 0);
  start_hash := prev.last_hash;
  start_seq := coalesce(prev.last_seq, 0);
  -- Innermost, each row gets its salt (a volatile call keeps this subquery from being merged into the next, so the
  -- salt is drawn once a row); then its digest (OFFSET 0: computed before the sort, so that what is sorted is
  -- narrow); the seqs and the running hash follow one order, id, so PostgreSQL sorts once.
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
        FROM :AUDITRUM_SCHEMA.changes c
        WHERE c.id > floor_id AND c.id <= after_ids AND c.txid >= coalesce(prev.xid_horizon, 0) AND c.txid < horizon
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
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA.seal(text) FROM PUBLIC;

-- verify_chain() also names erased rows, with their erasure (a column more: a new function).
DROP FUNCTION :AUDITRUM_SCHEMA.verify_chain();
/**
 * Every break of the chain, checked in the server in one pass over `chain` and `changes`:
 * - `changed`: a sealed row's stored values no longer give the digest sealed (or, for an erased row, the digest its
 *   latest erasure recorded);
 * - `reordered`: a sealed row now holds what another link sealed (rows' contents or ids swapped);
 * - `deleted`: a sealed row is gone, and no purge removed it (a row older than a recorded purge's cut-off was purged);
 * - `inserted`: a row that is not in the chain though a seal should have taken it (its transaction ended before the
 *   last seal), or whose transaction id was never assigned;
 * - `missing links`: seqs missing from the chain (the chain's own rows deleted);
 * - `altered link`: a link whose hash is not the hash of its predecessor, seq and digest.
 * And, not a break, `erased`: a row whose values an erasure replaced, as that erasure left it (erasure_id).
 * A chain cut short at its end (the last links and their rows deleted) shows only against a checkpoint kept
 * elsewhere: nothing inside the database remembers how long it was.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.verify_chain()
RETURNS TABLE (problem text, seq bigint, change_id bigint, detail text, erasure_id bigint)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET jit = off AS $$
  WITH last_seal AS (SELECT * FROM :AUDITRUM_SCHEMA.seals ORDER BY id DESC LIMIT 1),
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
            WHEN p.txid < (SELECT xid_horizon FROM last_seal) THEN 'inserted'
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

-- Links may have their salt replaced, and nothing else: an erasure replaces a sealed row's salt (see erase()). A
-- salt changed by anyone else only breaks its row's digest (verify names the row changed); it hides nothing, as no
-- salt makes altered values give the digest sealed.
CREATE FUNCTION :AUDITRUM_SCHEMA._chain_salt_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.salt IS DISTINCT FROM OLD.salt
    AND (NEW.seq, NEW.change_id, NEW.changed_at, NEW.digest, NEW.hash, NEW.format)
      IS NOT DISTINCT FROM (OLD.seq, OLD.change_id, OLD.changed_at, OLD.digest, OLD.hash, OLD.format) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'auditrum: %.% is append-only (% refused)', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._chain_salt_only() FROM PUBLIC;
DROP TRIGGER chain_append_only ON :AUDITRUM_SCHEMA.chain;
CREATE TRIGGER chain_append_only BEFORE UPDATE OR DELETE ON :AUDITRUM_SCHEMA.chain
  FOR EACH ROW EXECUTE FUNCTION :AUDITRUM_SCHEMA._chain_salt_only();

-- The context fields an erasure by actor replaces with the marker: who the actor was and where the request came
-- from. The others (source, route, method, reason, request and job ids) say what was done, not by whom.
CREATE FUNCTION :AUDITRUM_SCHEMA._erased_context_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ARRAY['actor_id', 'actor_label', 'ip', 'user_agent', 'path', 'meta', 'client_addr', 'db_user']
$$;

-- An object's keys among `keys` whose value is not null, replaced with `marker`; anything else as it is.
CREATE FUNCTION :AUDITRUM_SCHEMA._erase_keys(value jsonb, keys text[], marker jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE WHEN jsonb_typeof(value) = 'object' THEN
    value || coalesce((SELECT jsonb_object_agg(e.key, marker) FROM jsonb_each(value) e
      WHERE e.key = ANY (keys) AND jsonb_typeof(e.value) <> 'null'), '{}')
  ELSE value END
$$;

/**
 * Erases one person's values from history (GDPR art. 17), in the caller's transaction, and records it in
 * `erasures` and `erased_changes`. `subject`:
 * - {"actor_id": "..."}: the change rows that actor made get the pseudonym `erased:<erasure id>` as actor id (the
 *   history still shows they were one person's, not whose) and the marker for their context fields that say who
 *   and from where (_erased_context_fields); the actor's API-log rows get the pseudonym, the marker for label, IP
 *   and user agent, and an erased-body marker for the query and both bodies;
 * - {"table": "schema.table", "key": <key as row_key() takes it>, "columns": ["email", ...]}: every version of
 *   that row (old and new values) gets the marker for those columns; when one of them is a key column, its row
 *   key too becomes `erased:<erasure id>`.
 * For each sealed row it touches, the link's salt is replaced (the digest sealed can then no longer be recomputed,
 * so no value can be guessed from it) and the digest of what the erasure left, under the new salt, is recorded, so
 * that verify reports the row erased; a row that no longer matched its link before the erasure gets no digest and
 * stays `changed`. Nothing changes when the subject has no rows (an error says so). Runs under the seal lock, in
 * READ COMMITTED (a seal running at the same time would seal the values erased).
 */
CREATE FUNCTION :AUDITRUM_SCHEMA.erase(subject jsonb, reason text, requested_by text DEFAULT NULL)
RETURNS TABLE (erasure_id bigint, changes bigint, api_requests bigint, sealed bigint, unmatched bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
  marker CONSTANT jsonb := to_jsonb('[erased]'::text);
  actor text;
  target regclass;
  t :AUDITRUM_SCHEMA.tracked_tables;
  key_text text;
  columns_erased text[];
  key_erased boolean;
  missing text;
  ids bigint[];
  api_count bigint;
  erasure bigint;
  pseudonym text;
  recorded jsonb;
  sealed_links bigint[];
  matched_ids bigint[];
BEGIN
  IF reason IS NULL OR btrim(reason) = '' THEN
    RAISE EXCEPTION 'auditrum: give the reason for the erasure (the request it answers)'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'auditrum: erase() must run in READ COMMITTED, not %', current_setting('transaction_isolation')
      USING ERRCODE = 'invalid_transaction_state';
  END IF;
  IF jsonb_typeof(subject) IS DISTINCT FROM 'object' THEN
    RAISE EXCEPTION 'auditrum: the subject of an erasure is {"actor_id": ...} or {"table": ..., "key": ..., "columns": [...]}, not %',
      coalesce(subject::text, 'NULL') USING ERRCODE = 'invalid_parameter_value';
  END IF;
  -- Seals wait for the erasure, and it for them: a seal must take the erased values or the erasure see its links.
  PERFORM pg_advisory_xact_lock(hashtextextended('auditrum.seal:' || :'AUDITRUM_SCHEMA', 0));

  IF subject ?& ARRAY['actor_id'] AND (SELECT count(*) FROM jsonb_object_keys(subject)) = 1 THEN
    IF jsonb_typeof(subject->'actor_id') <> 'string' OR subject->>'actor_id' = '' THEN
      RAISE EXCEPTION 'auditrum: the actor id to erase must be a non-empty string, not %', subject->'actor_id'
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    actor := subject->>'actor_id';
    SELECT coalesce(array_agg(c.id ORDER BY c.id), '{}') INTO ids FROM :AUDITRUM_SCHEMA.changes c WHERE c.actor_id = actor;
    SELECT count(*) INTO api_count FROM :AUDITRUM_SCHEMA.api_requests r WHERE r.actor_id = actor;
    IF cardinality(ids) = 0 AND api_count = 0 THEN
      RAISE EXCEPTION 'auditrum: actor % made no change and no API request: nothing erased', to_jsonb(actor)
        USING ERRCODE = 'no_data_found';
    END IF;
    -- Not the actor id itself: with it, the pseudonym would lead back to the person.
    recorded := jsonb_build_object('actor_id', marker);
  ELSIF subject ?& ARRAY['table', 'key', 'columns'] AND (SELECT count(*) FROM jsonb_object_keys(subject)) = 3 THEN
    IF jsonb_typeof(subject->'table') <> 'string' THEN
      RAISE EXCEPTION 'auditrum: the table to erase from must be a name such as "public.users", not %', subject->'table'
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    BEGIN
      target := to_regclass(subject->>'table');
    EXCEPTION WHEN invalid_name OR syntax_error OR feature_not_supported THEN
      target := NULL;
    END;
    SELECT * INTO t FROM :AUDITRUM_SCHEMA.tracked_tables tt WHERE tt.relid = target
    ORDER BY tt.untracked_at NULLS FIRST LIMIT 1;
    IF t.id IS NULL THEN
      RAISE EXCEPTION 'auditrum: % is not a tracked table', to_jsonb(subject->>'table')
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(subject->'columns') <> 'array' OR jsonb_array_length(subject->'columns') = 0
      OR EXISTS (SELECT FROM jsonb_array_elements(subject->'columns') c WHERE jsonb_typeof(c) <> 'string') THEN
      RAISE EXCEPTION 'auditrum: give the columns to erase as a list of column names, not %', subject->'columns'
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    key_text := :AUDITRUM_SCHEMA.row_key(target, subject->'key');
    SELECT array_agg(DISTINCT c ORDER BY c) INTO columns_erased FROM jsonb_array_elements_text(subject->'columns') c;
    -- A column of the table, or one its history holds (dropped since).
    SELECT string_agg(quote_ident(c), ', ') INTO missing FROM unnest(columns_erased) c
    WHERE NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = target AND a.attname = c AND a.attnum > 0
        AND NOT a.attisdropped)
      AND NOT EXISTS (SELECT FROM :AUDITRUM_SCHEMA.changes h WHERE h.table_id = t.id AND h.row_key = key_text
        AND (h.old_values ? c OR h.new_values ? c));
    IF missing IS NOT NULL THEN
      RAISE EXCEPTION 'auditrum: table % has no column %', target, missing USING ERRCODE = 'undefined_column';
    END IF;
    SELECT coalesce(array_agg(c.id ORDER BY c.id), '{}') INTO ids FROM :AUDITRUM_SCHEMA.changes c
    WHERE c.table_id = t.id AND c.row_key = key_text;
    IF cardinality(ids) = 0 THEN
      RAISE EXCEPTION 'auditrum: row % of table % has no history: nothing erased', key_text, target
        USING ERRCODE = 'no_data_found';
    END IF;
    api_count := 0;
    key_erased := EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = target AND a.attnum = ANY (t.key_attnums)
      AND a.attname = ANY (columns_erased));
    recorded := jsonb_build_object('table', format('%I.%I', t.schema_name, t.table_name),
      'key', CASE WHEN key_erased THEN marker ELSE to_jsonb(key_text) END, 'columns', to_jsonb(columns_erased));
  ELSE
    RAISE EXCEPTION 'auditrum: the subject of an erasure is {"actor_id": ...} or {"table": ..., "key": ..., "columns": [...]}, not %',
      subject USING ERRCODE = 'invalid_parameter_value';
  END IF;

  INSERT INTO :AUDITRUM_SCHEMA.erasures AS e (actor, reason, subject, changes, api_requests)
  VALUES (requested_by, reason, recorded, cardinality(ids), api_count) RETURNING e.id INTO erasure;
  pseudonym := 'erased:' || erasure;

  -- Which of the rows are sealed, and which of those still match their link (or their latest erasure) before this
  -- one: only those get a digest.
  SELECT coalesce(array_agg(x.seq ORDER BY x.seq) FILTER (WHERE x.seq IS NOT NULL), '{}'),
    coalesce(array_agg(x.id) FILTER (WHERE x.matched), '{}')
  INTO sealed_links, matched_ids
  FROM (
    SELECT c.id, l.seq, coalesce(e.digest, l.digest) = CASE
        WHEN l.format = 2 OR e.digest IS NOT NULL THEN :AUDITRUM_SCHEMA._chain_salted_digest(l.salt, c.id,
          c.changed_at, c.txid, c.table_id, c.operation, c.row_key, c.old_values, c.new_values, c.actor_id,
          c.request_id, c.context)
        ELSE (SELECT d.digest FROM :AUDITRUM_SCHEMA._chain_digest(c.id, c.changed_at, c.txid, c.table_id,
          c.operation, c.row_key, c.old_values, c.new_values, c.actor_id, c.request_id, c.context) d) END AS matched
    FROM :AUDITRUM_SCHEMA.changes c
      -- One pass over the chain (it has no index on change_id: seals would pay for it).
      LEFT JOIN (SELECT DISTINCT ON (l.change_id) l.* FROM :AUDITRUM_SCHEMA.chain l WHERE l.change_id = ANY (ids)
        ORDER BY l.change_id, l.seq) l ON l.change_id = c.id
      LEFT JOIN LATERAL (SELECT * FROM :AUDITRUM_SCHEMA.erased_changes e WHERE e.change_id = c.id
        ORDER BY e.erasure_id DESC LIMIT 1) e ON true
    WHERE c.id = ANY (ids)
  ) x;

  IF actor IS NOT NULL THEN
    UPDATE :AUDITRUM_SCHEMA.changes c SET actor_id = pseudonym,
      context = :AUDITRUM_SCHEMA._erase_keys(c.context, :AUDITRUM_SCHEMA._erased_context_fields(), marker)
    WHERE c.id = ANY (ids);
    UPDATE :AUDITRUM_SCHEMA.api_requests r SET actor_id = pseudonym,
      actor_label = CASE WHEN r.actor_label IS NOT NULL THEN '[erased]' END,
      ip = CASE WHEN r.ip IS NOT NULL THEN '[erased]' END,
      user_agent = CASE WHEN r.user_agent IS NOT NULL THEN '[erased]' END,
      query = CASE WHEN r.query IS NOT NULL THEN jsonb_build_object('$auditrum', 'erased', 'erasure', erasure::text) END,
      request_body = CASE WHEN r.request_body IS NOT NULL
        THEN jsonb_build_object('$auditrum', 'erased', 'erasure', erasure::text) END,
      response_body = CASE WHEN r.response_body IS NOT NULL
        THEN jsonb_build_object('$auditrum', 'erased', 'erasure', erasure::text) END
    WHERE r.actor_id = actor;
  ELSE
    UPDATE :AUDITRUM_SCHEMA.changes c SET
      old_values = :AUDITRUM_SCHEMA._erase_keys(c.old_values, columns_erased, marker),
      new_values = :AUDITRUM_SCHEMA._erase_keys(c.new_values, columns_erased, marker),
      row_key = CASE WHEN key_erased THEN pseudonym ELSE c.row_key END
    WHERE c.id = ANY (ids);
  END IF;

  -- A new salt for every sealed row touched (the old one, with the digest sealed, would let the value be guessed),
  -- and the digest of what is left under it for the rows that matched.
  UPDATE :AUDITRUM_SCHEMA.chain l SET salt = :AUDITRUM_SCHEMA._chain_new_salt() WHERE l.seq = ANY (sealed_links);
  INSERT INTO :AUDITRUM_SCHEMA.erased_changes (erasure_id, change_id, digest)
  SELECT erasure, c.id, CASE WHEN c.id = ANY (matched_ids) THEN :AUDITRUM_SCHEMA._chain_salted_digest(l.salt, c.id,
      c.changed_at, c.txid, c.table_id, c.operation, c.row_key, c.old_values, c.new_values, c.actor_id, c.request_id,
      c.context) END
  FROM :AUDITRUM_SCHEMA.changes c
    LEFT JOIN (SELECT DISTINCT ON (l.change_id) l.* FROM :AUDITRUM_SCHEMA.chain l WHERE l.seq = ANY (sealed_links)
      ORDER BY l.change_id, l.seq) l ON l.change_id = c.id
  WHERE c.id = ANY (ids);

  erasure_id := erasure; changes := cardinality(ids); api_requests := api_count;
  sealed := cardinality(sealed_links); unmatched := cardinality(sealed_links) - cardinality(matched_ids);
  RETURN NEXT;
END;
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA.erase(jsonb, text, text) FROM PUBLIC;
