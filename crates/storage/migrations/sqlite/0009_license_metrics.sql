-- Licence metrics (issue 9): what every complete import saw of the
-- virtualization hierarchy (a snapshot), which licensable instances were
-- present then, and the values computed from them per day.
--
-- Visibility: a complete import's "Licence metrics" step writes its
-- snapshot (servers and partitions) with published = 0; its publish
-- transaction sets published = 1, records the instances present, and
-- recomputes the values of the snapshot's day. Unpublished snapshots are
-- deleted by the clean-up of failed imports. Classification changes
-- recompute the stored days of the products they touch from the stored
-- snapshots (retroactive, as ILMT's reaggregation).

-- A stable integer per product (ILMT's product_id is an integer, and
-- clients decode it as one).
ALTER TABLE inventory_products ADD COLUMN num INTEGER;
UPDATE inventory_products SET num = rowid;
CREATE UNIQUE INDEX inventory_products_by_num ON inventory_products (num);

CREATE TABLE license_snapshots (
    id                INTEGER PRIMARY KEY, -- the import's id
    taken_at          INTEGER NOT NULL,    -- ms: when the hierarchy was read
    day               TEXT NOT NULL,       -- YYYY-MM-DD (UTC) the values belong to
    published         INTEGER NOT NULL DEFAULT 0,
    pvu_table_version TEXT NOT NULL,
    details           TEXT NOT NULL DEFAULT '{}' -- JSON: counts and notes of the step
);
CREATE INDEX license_snapshots_by_day ON license_snapshots (day, published);

-- The servers of a snapshot: a physical computer, a VM counted on its own
-- (TLM_VM_…, no VM-manager data) or a public-cloud VM.
CREATE TABLE license_snapshot_servers (
    snapshot_id      INTEGER NOT NULL,
    server_key       TEXT NOT NULL,   -- stable across snapshots
    server_id        INTEGER NOT NULL,-- ILMT's integer server id (the computer's id)
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL,   -- physical | default | cloud
    vendor           TEXT,
    model            TEXT,
    serial           TEXT,
    total_processors INTEGER,         -- sockets
    cores            INTEGER,         -- activated physical cores (vCPUs for default/cloud)
    pvu_per_core     INTEGER NOT NULL,
    capped           INTEGER NOT NULL,-- 1: sub-capacity capped at cores
    custom_pvu       INTEGER,         -- the operator's override, when set
    basis            TEXT NOT NULL,   -- JSON: why this rate, why these cores
    PRIMARY KEY (snapshot_id, server_key)
) WITHOUT ROWID;

-- Which computer runs on which server, with the cores it counts there.
CREATE TABLE license_snapshot_partitions (
    snapshot_id INTEGER NOT NULL,
    computer_id INTEGER NOT NULL,
    server_key  TEXT NOT NULL,
    cores       INTEGER NOT NULL,
    reason      TEXT NOT NULL,        -- JSON: how the computer was placed
    PRIMARY KEY (snapshot_id, computer_id, server_key)
) WITHOUT ROWID;

-- The instances present at the snapshot whose component can count against
-- a metric (an option of a product with a metric). Their classification is
-- read when the values are computed, so it applies retroactively.
CREATE TABLE license_snapshot_instances (
    snapshot_id INTEGER NOT NULL,
    instance_id INTEGER NOT NULL,
    PRIMARY KEY (snapshot_id, instance_id)
) WITHOUT ROWID;

-- The values: per day, product, metric and server (the maximum over that
-- day's snapshots), and per day, product and metric (over the servers).
CREATE TABLE license_server_days (
    day         TEXT NOT NULL,
    product_id  TEXT NOT NULL,
    metric      TEXT NOT NULL,  -- PVU_FULL_CAP | PVU_SUB_CAP | RVU_FULL_CAP | RVU_SUB_CAP | VIRTUAL_PROCESSOR_CORE
    server_key  TEXT NOT NULL,
    snapshot_id INTEGER NOT NULL, -- the snapshot that gave the maximum
    quantity    INTEGER NOT NULL,
    cores       INTEGER NOT NULL,
    -- (How the value was reached is not stored: the explain API evaluates
    -- the snapshot again.)
    PRIMARY KEY (day, product_id, metric, server_key)
) WITHOUT ROWID;

CREATE TABLE license_product_days (
    product_id TEXT NOT NULL,
    metric     TEXT NOT NULL,
    day        TEXT NOT NULL,
    quantity   INTEGER NOT NULL,
    cores      INTEGER NOT NULL,
    servers    INTEGER NOT NULL,
    unresolved TEXT NOT NULL DEFAULT '[]', -- JSON: computers whose charge could not be counted, and why
    PRIMARY KEY (product_id, metric, day)
) WITHOUT ROWID;
CREATE INDEX license_product_days_by_day ON license_product_days (day);

-- Where each computer counts in the latest published snapshot (one server
-- per computer: the first by key when a VM ran on several hosts), for the
-- computer_hardware columns of the computers list.
CREATE VIEW license_current_placement AS
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

-- The operator's PVU table (replaces the bundled one while set) and
-- per-server rate overrides ("Changed PVU per core").
CREATE TABLE pvu_tables (
    layer    TEXT PRIMARY KEY,   -- 'operator'
    version  TEXT NOT NULL,
    document TEXT NOT NULL,      -- the CSV as accepted
    set_at   INTEGER NOT NULL,
    set_by   TEXT
);
CREATE TABLE pvu_overrides (
    server_key   TEXT PRIMARY KEY,
    pvu_per_core INTEGER NOT NULL,
    comment      TEXT NOT NULL,
    set_by       TEXT NOT NULL,
    set_at       INTEGER NOT NULL
);

-- The new permissions go to every user who held every permission there was.
UPDATE users SET permissions = permissions || ',view_license_metrics,manage_license_metrics'
WHERE instr(',' || permissions || ',', ',manage_software_classification,') > 0
  AND instr(',' || permissions || ',', ',manage_imports,') > 0;
