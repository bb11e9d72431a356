-- Benchmark history (bench/license.sh): copies the latest published licence
-- snapshot (its servers, partitions and the instances present) and its
-- day's values into the :days - 1 preceding days, as if the same estate had
-- been imported once a day. The copies get negative snapshot ids (imports
-- have positive ones). Benchmark data only: never run on a real database.
BEGIN;
CREATE TEMP TABLE src AS
  SELECT id, taken_at, day, pvu_table_version, details FROM license_snapshots
  WHERE published = 1 ORDER BY taken_at DESC, id DESC LIMIT 1;
CREATE TEMP TABLE n AS
  WITH RECURSIVE k(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM k WHERE k < :days - 1)
  SELECT k FROM k;
INSERT INTO license_snapshots (id, taken_at, day, published, pvu_table_version, details)
  SELECT -n.k, src.taken_at - n.k * 86400000, date(src.day, '-' || n.k || ' days'), 1,
         src.pvu_table_version, src.details
  FROM n, src;
INSERT INTO license_snapshot_servers
  SELECT -n.k, s.server_key, s.server_id, s.name, s.kind, s.vendor, s.model, s.serial,
         s.total_processors, s.cores, s.pvu_per_core, s.capped, s.custom_pvu, s.basis
  FROM n, license_snapshot_servers s, src WHERE s.snapshot_id = src.id;
INSERT INTO license_snapshot_partitions
  SELECT -n.k, p.computer_id, p.server_key, p.cores, p.reason
  FROM n, license_snapshot_partitions p, src WHERE p.snapshot_id = src.id;
INSERT INTO license_snapshot_instances
  SELECT -n.k, i.instance_id
  FROM n, license_snapshot_instances i, src WHERE i.snapshot_id = src.id;
INSERT INTO license_server_days
  SELECT date(d.day, '-' || n.k || ' days'), d.product_id, d.metric, d.server_key, -n.k,
         d.quantity, d.cores
  FROM n, license_server_days d, src WHERE d.day = src.day;
INSERT INTO license_product_days
  SELECT d.product_id, d.metric, date(d.day, '-' || n.k || ' days'), d.quantity, d.cores,
         d.servers, d.unresolved
  FROM n, license_product_days d, src WHERE d.day = src.day;
COMMIT;
SELECT 'snapshots: ' || COUNT(*) FROM license_snapshots;
