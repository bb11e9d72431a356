-- The order in which facts and VM guests were written, as a column of its
-- own: `seq`, an alias of the rowid (INTEGER PRIMARY KEY), so nothing changes
-- for SQLite (inserts leave it out and get the next rowid, as before; reads
-- that ordered by rowid order by the same value), and the PostgreSQL schema
-- has the same column (an identity column there: PostgreSQL has no rowid,
-- and the physical place of a row, its ctid, is not the insertion order once
-- VACUUM has freed space). The tables are rebuilt (SQLite cannot make an
-- existing column the rowid), keeping every row's rowid as its seq.

CREATE TABLE installed_packages_ordered (
    seq          INTEGER PRIMARY KEY,
    computer_id  INTEGER NOT NULL,
    import_id    INTEGER NOT NULL,
    name         TEXT NOT NULL,
    version      TEXT,
    architecture TEXT,
    vendor       TEXT,
    source       TEXT NOT NULL -- dpkg | rpm
);
INSERT INTO installed_packages_ordered
    (seq, computer_id, import_id, name, version, architecture, vendor, source)
SELECT rowid, computer_id, import_id, name, version, architecture, vendor, source
FROM installed_packages;
DROP TABLE installed_packages;
ALTER TABLE installed_packages_ordered RENAME TO installed_packages;
CREATE INDEX installed_packages_by_computer ON installed_packages (computer_id, import_id);

CREATE TABLE swid_facts_ordered (
    seq           INTEGER PRIMARY KEY,
    computer_id   INTEGER NOT NULL,
    import_id     INTEGER NOT NULL,
    tag_id        TEXT NOT NULL,
    name          TEXT,
    version       TEXT,
    regid         TEXT,
    vendor        TEXT,
    schema        TEXT NOT NULL, -- 2015 | 2009
    persistent_id TEXT,
    directory     TEXT
);
INSERT INTO swid_facts_ordered
    (seq, computer_id, import_id, tag_id, name, version, regid, vendor, schema,
     persistent_id, directory)
SELECT rowid, computer_id, import_id, tag_id, name, version, regid, vendor, schema,
       persistent_id, directory
FROM swid_facts;
DROP TABLE swid_facts;
ALTER TABLE swid_facts_ordered RENAME TO swid_facts;
CREATE INDEX swid_facts_by_computer ON swid_facts (computer_id, import_id);

CREATE TABLE vm_guest_observations_ordered (
    seq             INTEGER PRIMARY KEY,
    scan_id         INTEGER NOT NULL REFERENCES vm_host_scans(id) ON DELETE CASCADE,
    computer_id     INTEGER NOT NULL,              -- = the scan's
    import_id       INTEGER NOT NULL,              -- = the scan's
    observed_at     INTEGER NOT NULL,              -- = the scan's
    guest_uuid      TEXT NOT NULL,                 -- as printed
    guest_uuid_norm TEXT NOT NULL,                 -- lower case, no braces
    guest_name      TEXT,
    vcpus           INTEGER NOT NULL
);
INSERT INTO vm_guest_observations_ordered
    (seq, scan_id, computer_id, import_id, observed_at, guest_uuid, guest_uuid_norm,
     guest_name, vcpus)
SELECT rowid, scan_id, computer_id, import_id, observed_at, guest_uuid, guest_uuid_norm,
       guest_name, vcpus
FROM vm_guest_observations;
DROP TABLE vm_guest_observations;
ALTER TABLE vm_guest_observations_ordered RENAME TO vm_guest_observations;
CREATE INDEX vm_guest_observations_by_scan ON vm_guest_observations (scan_id);
CREATE INDEX vm_guest_observations_by_uuid ON vm_guest_observations (guest_uuid_norm, observed_at);
