-- Auditrum schema, version 18: the admin's transaction page reads only the ids a transaction can have.
--
-- A transaction's changes are not found by time (changed_at is each statement's start) and have no index of their
-- own (one on txid would cost every captured change an index entry). But the seals bound them: a seal read the
-- change-log sequence before its snapshot (ids_before) and after it (ids_after), so a transaction from its xid_next
-- on has only larger ids, and one below its xid_horizon only ids no larger (migration 9). These two indexes find the
-- nearest seal on either side of a transaction id in one probe each; seals are one row per seal run, so they cost
-- capture nothing, and building them takes milliseconds.
CREATE INDEX seals_xid_next_idx ON :AUDITRUM_SCHEMA.seals (xid_next);
CREATE INDEX seals_xid_horizon_idx ON :AUDITRUM_SCHEMA.seals (xid_horizon);
