-- Placeholder: the audit log schema itself lands in the next migrations.
COMMENT ON SCHEMA :AUDITRUM_SCHEMA IS 'Auditrum audit log';
