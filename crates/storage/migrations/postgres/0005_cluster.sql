-- PostgreSQL twin of migrations/sqlite/0013: several servers on one
-- database. `node`, the server that registered and runs the import;
-- `lease_until` (Unix ms by the database's clock), until when its claim holds
-- unless renewed (NULL: no lease); `cancel_requested`, the reason of a cancel
-- asked for on another server, which the running node applies.
ALTER TABLE imports ADD COLUMN node TEXT;
ALTER TABLE imports ADD COLUMN lease_until BIGINT;
ALTER TABLE imports ADD COLUMN cancel_requested TEXT;
