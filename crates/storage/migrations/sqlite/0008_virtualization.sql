-- Virtualization evidence for licence counting (issue 9).
--
-- 1. The hardware identity of each computer, from its scan package's capacity
--    evidence (dmidecode, /sys/class/dmi/id/product_uuid): raw_* columns like
--    the raw capacity of 0003_inventory.sql, staged in stage_computers and
--    copied to computers by every import's publish (same transaction, same
--    visibility rule). NULL when the evidence does not say.
--
-- 2. VM-manager observations: one vm_host_scans row per vmman_scan file of a
--    scan package (the host that a VM manager or the virtualization-host scan
--    observed at observed_at), and one vm_guest_observations row per guest it
--    listed running. computer_id is the computer whose scan package carried
--    the file (the reporting host), import_id the import that wrote it.
--
--    Visibility: an import writes its rows with published = 0 (invisible);
--    its publish transaction sets published = 1 on those whose computer is
--    published (visible) at that point. Rows left unpublished (an import that
--    does not publish; an older package's observations of a computer whose
--    newer package was rejected) are deleted with the import's other
--    leftovers (clean_leftovers).
--
--    History: unlike installed_packages, a newer import does NOT supersede an
--    older import's observations: licence counting needs the history (which
--    hosts a guest ran on during a day; whether a host's data is fresh within
--    48 h). A published observation is deleted only when a later publish
--    carries the same observation again (same computer, host UUID and time:
--    the superseded copy), or when it is older than the retention period
--    (Store::VM_OBSERVATION_RETENTION_DAYS, two years: the licence history's
--    retention), at each publish.

ALTER TABLE computers ADD COLUMN raw_system_uuid TEXT;
ALTER TABLE computers ADD COLUMN raw_system_manufacturer TEXT;
ALTER TABLE computers ADD COLUMN raw_system_product TEXT;
ALTER TABLE computers ADD COLUMN raw_system_serial TEXT;
ALTER TABLE computers ADD COLUMN raw_bios_vendor TEXT;
ALTER TABLE computers ADD COLUMN raw_bios_version TEXT;
ALTER TABLE computers ADD COLUMN raw_chassis_asset_tag TEXT;
ALTER TABLE computers ADD COLUMN raw_socket_slots INTEGER;

ALTER TABLE stage_computers ADD COLUMN raw_system_uuid TEXT;
ALTER TABLE stage_computers ADD COLUMN raw_system_manufacturer TEXT;
ALTER TABLE stage_computers ADD COLUMN raw_system_product TEXT;
ALTER TABLE stage_computers ADD COLUMN raw_system_serial TEXT;
ALTER TABLE stage_computers ADD COLUMN raw_bios_vendor TEXT;
ALTER TABLE stage_computers ADD COLUMN raw_bios_version TEXT;
ALTER TABLE stage_computers ADD COLUMN raw_chassis_asset_tag TEXT;
ALTER TABLE stage_computers ADD COLUMN raw_socket_slots INTEGER;

CREATE TABLE vm_host_scans (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    computer_id        INTEGER NOT NULL,           -- the reporting computer
    import_id          INTEGER NOT NULL,
    published          INTEGER NOT NULL DEFAULT 0,
    observed_at        INTEGER NOT NULL,           -- Unix ms, the scan's <timestamp>
    member             TEXT NOT NULL,              -- 0_vmman.tar.gz/vmman_scan_….xml
    manager_id         TEXT,                       -- <id>
    virtual_technology TEXT,                       -- KVM_X86 | KVM_PPC | XEN | …
    host_uuid          TEXT NOT NULL,              -- as printed
    host_uuid_norm     TEXT NOT NULL,              -- lower case, no braces
    host_name          TEXT,
    serial_number      TEXT,
    cores              INTEGER,
    active_sockets     INTEGER,
    available_sockets  INTEGER,
    cpu_model          TEXT,
    hardware_vendor    TEXT,
    hardware_model     TEXT
);
CREATE INDEX vm_host_scans_by_time ON vm_host_scans (observed_at);
CREATE INDEX vm_host_scans_by_computer ON vm_host_scans (computer_id, observed_at);
CREATE INDEX vm_host_scans_by_import ON vm_host_scans (import_id);

CREATE TABLE vm_guest_observations (
    scan_id         INTEGER NOT NULL REFERENCES vm_host_scans(id) ON DELETE CASCADE,
    computer_id     INTEGER NOT NULL,              -- = the scan's
    import_id       INTEGER NOT NULL,              -- = the scan's
    observed_at     INTEGER NOT NULL,              -- = the scan's
    guest_uuid      TEXT NOT NULL,                 -- as printed
    guest_uuid_norm TEXT NOT NULL,                 -- lower case, no braces
    guest_name      TEXT,
    vcpus           INTEGER NOT NULL
);
CREATE INDEX vm_guest_observations_by_scan ON vm_guest_observations (scan_id);
CREATE INDEX vm_guest_observations_by_uuid ON vm_guest_observations (guest_uuid_norm, observed_at);
