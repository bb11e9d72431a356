-- PostgreSQL twin of migrations/sqlite/0013: several servers on one
-- database. `node`, the server that registered and runs the import;
-- `lease_until` (Unix ms by the database's clock), until when its claim holds
-- unless renewed (NULL: no lease); `cancel_requested`, the reason of a cancel
-- asked for on another server, which the running node applies.
ALTER TABLE imports ADD COLUMN node TEXT;
ALTER TABLE imports ADD COLUMN lease_until BIGINT;
ALTER TABLE imports ADD COLUMN cancel_requested TEXT;

-- Every change of an import (registered, started, progress, lease, cancel
-- asked, ended) is announced on the channel `openlmt_imports` (payload: the
-- import's id), so that every replica's status follows at once; the
-- replicas also poll, since notifications sent while a replica's listening
-- connection is down are lost.
CREATE FUNCTION openlmt_imports_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('openlmt_imports', NEW.id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER imports_notify AFTER INSERT OR UPDATE ON imports
    FOR EACH ROW EXECUTE FUNCTION openlmt_imports_notify();
