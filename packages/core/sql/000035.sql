-- Auditrum schema, version 35: a row key an erasure gave (`erased:<erasure id>`) is never taken for a real key of
-- the same text, nor the reverse.
--
-- erase() of a row (version 12) gives every version of the row the key `erased:<erasure id>` when a key column is
-- among the columns erased. A row key is any text its key column holds, so a real row of the same table may have the
-- key `erased:7`: erase() of that key took both its versions and those erasure 7 erased. As for actors (version 33),
-- which versions hold an erasure's key pseudonym is told only by what erase() alone writes: erased_changes of an
-- erasure of a row whose recorded key is the marker (it erased a key column), the version's key being that erasure's
-- pseudonym. The log is not altered and capture is not touched.
-- New: _key_pseudonym_erasure(), the erasure a key text may stand for, for erase() and the readers.
--
-- And a table a migration adds is readable by whoever may read the log: `harden` grants the application role SELECT
-- on every table it finds, but a table added by a later migrate had PostgreSQL's defaults (none) until harden ran
-- again, so the application role could not read erased_api_requests (version 33) and the admin's API-log filter of
-- an `erased:<n>` actor failed with "permission denied". New: _grant_log_readers(), called here for that table and
-- by later migrations for the tables they add.
-- Replaced: erase(), whose erasure of a row by key leaves out the versions holding a pseudonym, and which names the
-- row an erasure's key pseudonym stands for by that erasure (subject key_erasure).

/**
 * The erasure whose key pseudonym `row_key` reads as (`erased:7`: 7) when that erasure erased a row's key (its subject's
 * key is the marker), else NULL: a key of another form, or one no key erasure gave. The versions that hold the
 * pseudonym are then the erasure's own (`erased_changes`) of that key, in the table it erased from; any other
 * version of that key is a real row's. One probe of erasures' primary key.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._key_pseudonym_erasure(row_key text)
RETURNS bigint LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT x.id FROM :AUDITRUM_SCHEMA.erasures x
  WHERE x.id = CASE WHEN row_key ~ '^erased:[1-9][0-9]{0,18}$'
      AND substr(row_key, 8)::numeric <= 9223372036854775807 THEN substr(row_key, 8)::bigint END
    AND x.subject ? 'table' AND x.subject->'key' = to_jsonb('[erased]'::text)
$$;

/**
 * Grants SELECT on `rel` (a table a migration adds, for the log's readers) to every role that may SELECT the change
 * log itself other than `rel`'s owner: after `harden`, the application role; before it, whoever the operator let read
 * the log. A role granted it already is granted it again (no change). Run by migrate, as the schema's owner.
 */
CREATE FUNCTION :AUDITRUM_SCHEMA._grant_log_readers(rel regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  reader text;
BEGIN
  FOR reader IN
    SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END
    FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
    WHERE c.oid = format('%I.changes', :'AUDITRUM_SCHEMA')::regclass AND a.privilege_type = 'SELECT'
      AND a.grantee <> (SELECT t.relowner FROM pg_class t WHERE t.oid = rel)
  LOOP
    EXECUTE format('GRANT SELECT ON %s TO %s', rel, reader);
  END LOOP;
END;
$$;
REVOKE EXECUTE ON FUNCTION :AUDITRUM_SCHEMA._grant_log_readers(regclass) FROM PUBLIC;
SELECT :AUDITRUM_SCHEMA._grant_log_readers(format('%I.erased_api_requests', :'AUDITRUM_SCHEMA')::regclass);

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
 *   key too becomes `erased:<erasure id>`. A key that reads as an erasure's pseudonym names the row that has it,
 *   never the versions that hold the pseudonym (version 35);
 * - {"table": ..., "key_erasure": <erasure id>, "columns": [...]}: the same for the row whose key that erasure
 *   erased (its versions hold the pseudonym as their key).
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
  key_erasure bigint;
  pseudonym_of bigint;
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
  ELSIF (subject ?& ARRAY['table', 'key', 'columns'] OR subject ?& ARRAY['table', 'key_erasure', 'columns'])
    AND (SELECT count(*) FROM jsonb_object_keys(subject)) = 3 THEN
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
    IF subject ? 'key_erasure' THEN
      -- The row whose key an erasure erased: its versions hold that erasure's pseudonym as their key.
      IF jsonb_typeof(subject->'key_erasure') NOT IN ('string', 'number')
        OR subject->>'key_erasure' !~ '^[1-9][0-9]{0,18}$' OR (subject->>'key_erasure')::numeric > 9223372036854775807 THEN
        RAISE EXCEPTION 'auditrum: key_erasure is the id of the erasure that erased the row''s key, not %',
          subject->'key_erasure' USING ERRCODE = 'invalid_parameter_value';
      END IF;
      key_erasure := (subject->>'key_erasure')::bigint;
      key_text := 'erased:' || key_erasure;
    ELSE
      key_text := :AUDITRUM_SCHEMA.row_key(target, subject->'key');
    END IF;
    SELECT array_agg(DISTINCT c ORDER BY c) INTO columns_erased FROM jsonb_array_elements_text(subject->'columns') c;
    -- The row's versions: with a key, those of the row that has it, never those holding an erasure's pseudonym of
    -- the same text (a real key may read erased:<n>); with key_erasure, only those.
    pseudonym_of := :AUDITRUM_SCHEMA._key_pseudonym_erasure(key_text);
    SELECT coalesce(array_agg(c.id ORDER BY c.id), '{}') INTO ids FROM :AUDITRUM_SCHEMA.changes c
    WHERE c.table_id = t.id AND c.row_key = key_text
      AND (pseudonym_of IS NULL AND key_erasure IS NULL
        OR (c.id IN (SELECT e.change_id FROM :AUDITRUM_SCHEMA.erased_changes e WHERE e.erasure_id = pseudonym_of))
          = (key_erasure IS NOT NULL));
    -- A column of the table, or one its history holds (dropped since).
    SELECT string_agg(quote_ident(c), ', ') INTO missing FROM unnest(columns_erased) c
    WHERE NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = target AND a.attname = c AND a.attnum > 0
        AND NOT a.attisdropped)
      AND NOT EXISTS (SELECT FROM :AUDITRUM_SCHEMA.changes h WHERE h.id = ANY (ids)
        AND (h.old_values ? c OR h.new_values ? c));
    IF missing IS NOT NULL THEN
      RAISE EXCEPTION 'auditrum: table % has no column %', target, missing USING ERRCODE = 'undefined_column';
    END IF;
    IF cardinality(ids) = 0 AND key_erasure IS NOT NULL THEN
      RAISE EXCEPTION 'auditrum: erasure % erased no key of table %: nothing erased', key_erasure, target
        USING ERRCODE = 'no_data_found';
    END IF;
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
