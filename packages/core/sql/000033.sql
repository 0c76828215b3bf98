-- Auditrum schema, version 33: an erased actor's pseudonym is never taken for a real actor id of the same text, nor
-- the reverse.
--
-- erase() (version 12) gives the changes and API calls of an erased actor the actor id `erased:<erasure id>`. Actor
-- ids are any text the application (or a context comment written by hand) gives, so a real actor may be named
-- `erased:7`: the actor filters mixed that actor's changes with erasure 7's, and a second erasure of `erased:7` took
-- both. Which rows hold a pseudonym is now told only by what erase() alone writes: a change holds one when an erasure
-- of an actor touched it (erased_changes, version 12), an API-log row when an erasure recorded it in
-- erased_api_requests (new, append-only as erased_changes is); the text alone is never read as a pseudonym. The log
-- itself is not altered (no column, no index: nothing rewritten or reindexed at upgrade) and capture is not touched.
-- Replaced: erase(), whose erasure of an actor leaves out the rows that hold a pseudonym and records the API-log
-- rows it masks.

-- Which API-log rows an erasure of an actor masked (their actor id is its pseudonym). api_request_id is
-- api_requests.id (unique: one sequence); a purged row's entry stays, as erased_changes' does.
CREATE TABLE :AUDITRUM_SCHEMA.erased_api_requests (
  erasure_id bigint NOT NULL REFERENCES :AUDITRUM_SCHEMA.erasures (id),
  api_request_id bigint NOT NULL,
  PRIMARY KEY (api_request_id, erasure_id)
);
CREATE INDEX erased_api_requests_erasure_idx ON :AUDITRUM_SCHEMA.erased_api_requests (erasure_id);
CREATE TRIGGER erased_api_requests_append_only BEFORE UPDATE OR DELETE ON :AUDITRUM_SCHEMA.erased_api_requests
  FOR EACH ROW EXECUTE FUNCTION :AUDITRUM_SCHEMA._chain_append_only();
CREATE TRIGGER erased_api_requests_no_truncate BEFORE TRUNCATE ON :AUDITRUM_SCHEMA.erased_api_requests
  FOR EACH STATEMENT EXECUTE FUNCTION :AUDITRUM_SCHEMA._chain_append_only();

-- The API-log rows that erasures before this version masked: those under an actor erasure's pseudonym whose every
-- field that erase() replaces holds what it left (NULL stays NULL). An application's own actor of that name would
-- need a call with no address, agent, label, query or body, or with exactly those markers, to be taken for one.
INSERT INTO :AUDITRUM_SCHEMA.erased_api_requests (erasure_id, api_request_id)
SELECT e.id, r.id
FROM :AUDITRUM_SCHEMA.erasures e
  JOIN :AUDITRUM_SCHEMA.api_requests r ON r.actor_id = 'erased:' || e.id
  CROSS JOIN LATERAL (SELECT jsonb_build_object('$auditrum', 'erased', 'erasure', e.id::text) AS body) m
WHERE e.subject ? 'actor_id' AND e.api_requests > 0
  AND coalesce(r.actor_label, '[erased]') = '[erased]' AND coalesce(r.ip, '[erased]') = '[erased]'
  AND coalesce(r.user_agent, '[erased]') = '[erased]' AND coalesce(r.query, m.body) = m.body
  AND coalesce(r.request_body, m.body) = m.body AND coalesce(r.response_body, m.body) = m.body;

/**
 * Erases one person's values from history (GDPR art. 17), in the caller's transaction, and records it in
 * `erasures` and `erased_changes` (and `erased_api_requests`). `subject`:
 * - {"actor_id": "..."}: the change rows that actor made get the pseudonym `erased:<erasure id>` as actor id (the
 *   history still shows they were one person's, not whose) and the marker for their context fields that say who
 *   and from where (_erased_context_fields); the actor's API-log rows get the pseudonym, the marker for label, IP
 *   and user agent, and an erased-body marker for the query and both bodies. Rows that hold an earlier erasure's
 *   pseudonym are not the actor's, whatever the actor is named (version 33);
 * - {"table": "schema.table", "key": <key as row_key() takes it>, "columns": ["email", ...]}: every version of
 *   that row (old and new values) gets the marker for those columns; when one of them is a key column, its row
 *   key too becomes `erased:<erasure id>`.
 * For each sealed row it touches, the link's salt is replaced (the digest sealed can then no longer be recomputed,
 * so no value can be guessed from it) and the digest of what the erasure left, under the new salt, is recorded, so
 * that verify reports the row erased; a row that no longer matched its link before the erasure gets no digest and
 * stays `changed`. Nothing changes when the subject has no rows (an error says so). Runs under the seal lock, in
 * READ COMMITTED (a seal running at the same time would seal the values erased).
 */
CREATE OR REPLACE FUNCTION :AUDITRUM_SCHEMA.erase(subject jsonb, reason text, requested_by text DEFAULT NULL)
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
  api_ids bigint[] := '{}';
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
    -- The actor's rows, not those that hold an erasure's pseudonym of the same text (another person's, erased).
    SELECT coalesce(array_agg(c.id ORDER BY c.id), '{}') INTO ids FROM :AUDITRUM_SCHEMA.changes c
    WHERE c.actor_id = actor AND NOT EXISTS (SELECT FROM :AUDITRUM_SCHEMA.erased_changes e
      JOIN :AUDITRUM_SCHEMA.erasures x ON x.id = e.erasure_id WHERE e.change_id = c.id AND x.subject ? 'actor_id');
    SELECT coalesce(array_agg(r.id ORDER BY r.id), '{}') INTO api_ids FROM :AUDITRUM_SCHEMA.api_requests r
    WHERE r.actor_id = actor
      AND NOT EXISTS (SELECT FROM :AUDITRUM_SCHEMA.erased_api_requests e WHERE e.api_request_id = r.id);
    IF cardinality(ids) = 0 AND cardinality(api_ids) = 0 THEN
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
    key_erased := EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = target AND a.attnum = ANY (t.key_attnums)
      AND a.attname = ANY (columns_erased));
    recorded := jsonb_build_object('table', format('%I.%I', t.schema_name, t.table_name),
      'key', CASE WHEN key_erased THEN marker ELSE to_jsonb(key_text) END, 'columns', to_jsonb(columns_erased));
  ELSE
    RAISE EXCEPTION 'auditrum: the subject of an erasure is {"actor_id": ...} or {"table": ..., "key": ..., "columns": [...]}, not %',
      subject USING ERRCODE = 'invalid_parameter_value';
  END IF;

  INSERT INTO :AUDITRUM_SCHEMA.erasures AS e (actor, reason, subject, changes, api_requests)
  VALUES (requested_by, reason, recorded, cardinality(ids), cardinality(api_ids)) RETURNING e.id INTO erasure;
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
    WHERE r.actor_id = actor AND r.id = ANY (api_ids);
    INSERT INTO :AUDITRUM_SCHEMA.erased_api_requests (erasure_id, api_request_id) SELECT erasure, unnest(api_ids);
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

  erasure_id := erasure; changes := cardinality(ids); api_requests := cardinality(api_ids);
  sealed := cardinality(sealed_links); unmatched := cardinality(sealed_links) - cardinality(matched_ids);
  RETURN NEXT;
END;
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA.erase(jsonb, text, text) FROM PUBLIC;
