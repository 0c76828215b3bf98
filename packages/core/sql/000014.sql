-- Auditrum schema, version 14: the API-request log records each row's transaction, for the live export.
--
-- `auditrum export` takes a row only once its transaction can no longer commit behind the export's cursor (below a
-- snapshot's xmin, as seal() does for the chain), which needs each row's transaction id: the change log has it
-- (`txid`), the API log gets it here. Rows written before this migration have none (NULL): the ALTER TABLE waited
-- for every transaction that had written the table, so they are all committed. See docs/export.md.
ALTER TABLE :AUDITRUM_SCHEMA.api_requests ADD COLUMN txid bigint;
-- Set after the ADD COLUMN, so that existing rows keep NULL and the table is not rewritten (a volatile default in
-- ADD COLUMN would compute it for every existing row).
ALTER TABLE :AUDITRUM_SCHEMA.api_requests ALTER COLUMN txid SET DEFAULT pg_catalog.txid_current();

-- The export bounds its scans with ids read from the sequence around its snapshot, which holds only if a
-- transaction has its transaction id before it draws an id (as a change row's transaction has: its tracked write
-- came first). A COPY draws the ids of up to a thousand buffered rows before its first insert assigns one, so the
-- id's default now asks for the transaction id first (CASE evaluates its condition first). The sequence is baked
-- in as a constant (a regclass literal), as the serial default had it.
DO $$
BEGIN
  EXECUTE pg_catalog.format(
    'ALTER TABLE %I.api_requests ALTER COLUMN id SET DEFAULT CASE WHEN pg_catalog.txid_current() IS NOT NULL THEN pg_catalog.nextval(%L::regclass) END',
    :'AUDITRUM_SCHEMA',
    pg_catalog.pg_get_serial_sequence(pg_catalog.format('%I.api_requests', :'AUDITRUM_SCHEMA'), 'id'));
END;
$$;
