-- (Kept out of migrations/postgres until the branch that made the PostgreSQL
-- schema is merged with the one that added migrations/sqlite/0010: move it
-- there in the merge; tests/schema_parity.rs passes with both, and fails with
-- either alone.)
-- PostgreSQL twin of migrations/sqlite/0010: the placement in the latest
-- published snapshot as a table the publish refreshes (from the view
-- license_placement_of_latest, the old view's query), indexed by computer.
DROP VIEW license_current_placement;

CREATE VIEW license_placement_of_latest AS
SELECT p.computer_id, p.server_key, p.cores AS partition_cores,
       p.reason::jsonb ->> 'role' AS role,
       s.server_id, s.name AS server_name, s.kind, s.vendor, s.model, s.serial,
       s.total_processors, s.cores AS server_cores, s.pvu_per_core, s.custom_pvu,
       COALESCE((s.basis::jsonb #>> '{rate,basis,replaced,pvu_per_core}')::BIGINT, s.pvu_per_core)
         AS default_pvu
FROM license_snapshot_partitions p
JOIN license_snapshot_servers s ON s.snapshot_id = p.snapshot_id AND s.server_key = p.server_key
WHERE p.snapshot_id = (SELECT id FROM license_snapshots WHERE published = 1
                       ORDER BY taken_at DESC, id DESC LIMIT 1)
  AND p.server_key = (SELECT MIN(q.server_key) FROM license_snapshot_partitions q
                      WHERE q.snapshot_id = p.snapshot_id AND q.computer_id = p.computer_id
                        AND q.server_key != '-');

CREATE TABLE license_current_placement (
    computer_id      BIGINT NOT NULL,
    server_key       TEXT NOT NULL,
    partition_cores  BIGINT,
    role             TEXT,
    server_id        BIGINT,
    server_name      TEXT,
    kind             TEXT,
    vendor           TEXT,
    model            TEXT,
    serial           TEXT,
    total_processors BIGINT,
    server_cores     BIGINT,
    pvu_per_core     BIGINT,
    custom_pvu       BIGINT,
    default_pvu      BIGINT
);
CREATE INDEX license_current_placement_by_computer ON license_current_placement (computer_id);

INSERT INTO license_current_placement SELECT * FROM license_placement_of_latest;
