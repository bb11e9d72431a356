-- Several servers on one database (PostgreSQL; the columns exist on SQLite
-- too so that both engines keep one schema and one conformance suite):
-- `node`, the server that registered and runs the import; `lease_until`
-- (Unix ms, the database's clock), until when that node's claim holds
-- unless renewed (NULL: no lease, a single server); `cancel_requested`, the
-- reason of a cancel asked for on another server, which the running node
-- applies.
ALTER TABLE imports ADD COLUMN node TEXT;
ALTER TABLE imports ADD COLUMN lease_until INTEGER;
ALTER TABLE imports ADD COLUMN cancel_requested TEXT;
