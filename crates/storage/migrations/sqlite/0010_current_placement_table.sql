-- Where each computer counts in the latest published snapshot, as a table
-- with an index instead of a view.
--
-- The computers list and the software instances list LEFT JOIN it per row.
-- A view of a join on the right of a LEFT JOIN cannot be flattened, so
-- SQLite materialised it and, for the instance list's page query (the rows
-- whose id is among the page's keys), SCANned the materialisation for every
-- row: 27 s per page of 100,000 instances on the 10,000-computer discovery
-- benchmark (10,000 rows scanned per instance). The publish now refreshes
-- this table from `license_placement_of_latest` (the old view's query) in
-- its transaction, the only moment the latest published snapshot changes.
DROP VIEW license_current_placement;

CREATE VIEW license_placement_of_latest AS
SELECT p.computer_id, p.server_key, p.cores AS partition_cores,
       json_extract(p.reason, '$.role') AS role,
       s.server_id, s.name AS server_name, s.kind, s.vendor, s.model, s.serial,
       s.total_processors, s.cores AS server_cores, s.pvu_per_core, s.custom_pvu,
       COALESCE(json_extract(s.basis, '$.rate.basis.replaced.pvu_per_core'), s.pvu_per_core)
         AS default_pvu
FROM license_snapshot_partitions p
JOIN license_snapshot_servers s ON s.snapshot_id = p.snapshot_id AND s.server_key = p.server_key
WHERE p.snapshot_id = (SELECT id FROM license_snapshots WHERE published = 1
                       ORDER BY taken_at DESC, id DESC LIMIT 1)
  AND p.server_key = (SELECT MIN(q.server_key) FROM license_snapshot_partitions q
                      WHERE q.snapshot_id = p.snapshot_id AND q.computer_id = p.computer_id
                        AND q.server_key != '-');

CREATE TABLE license_current_placement (
    -- The key has the partitions' types, so that the join's comparison with
    -- an INTEGER computer id can use the index (a column without affinity
    -- cannot: SQLite then scanned it per row again). The values have no
    -- declared type (no affinity): they stay exactly what the view returned,
    -- json_extract's included.
    computer_id INTEGER NOT NULL,
    server_key  TEXT NOT NULL,
    partition_cores, role, server_id, server_name, kind, vendor, model, serial,
    total_processors, server_cores, pvu_per_core, custom_pvu, default_pvu
);
CREATE INDEX license_current_placement_by_computer ON license_current_placement (computer_id);

INSERT INTO license_current_placement SELECT * FROM license_placement_of_latest;
