-- Auditrum schema, version 4: which roles give trusted context (others' comments are kept as claimed), and
-- values too large to store whole.
SELECT 1;
