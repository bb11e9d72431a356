-- One meaning per word (issue 12): a "scan package" is the archive one
-- computer sends, an "installed package" a dpkg/rpm record on a computer.
-- package_facts (installed packages) becomes installed_packages and
-- import_packages (the scan packages one import saw) becomes
-- import_scan_packages. The tables are created afresh and their rows copied,
-- rather than renamed with ALTER TABLE, so their stored definitions read like
-- those of every other table (bench/import.sh copies them textually).

CREATE TABLE import_scan_packages (
    import_id   INTEGER NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    data_source TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    seen_at     INTEGER NOT NULL,
    state       TEXT NOT NULL, -- new | already_imported | rejected | skipped_older | previously_rejected
    reason      TEXT,
    mtime_ns    INTEGER,
    endpoint_id TEXT,
    scan_time   INTEGER,
    PRIMARY KEY (import_id, data_source, file_name)
);
INSERT INTO import_scan_packages
    (import_id, data_source, file_name, size, sha256, seen_at, state, reason,
     mtime_ns, endpoint_id, scan_time)
SELECT import_id, data_source, file_name, size, sha256, seen_at, state, reason,
       mtime_ns, endpoint_id, scan_time
FROM import_packages;
DROP TABLE import_packages;

CREATE TABLE installed_packages (
    computer_id  INTEGER NOT NULL,
    import_id    INTEGER NOT NULL,
    name         TEXT NOT NULL,
    version      TEXT,
    architecture TEXT,
    vendor       TEXT,
    source       TEXT NOT NULL -- dpkg | rpm
);
INSERT INTO installed_packages
    (rowid, computer_id, import_id, name, version, architecture, vendor, source)
SELECT rowid, computer_id, import_id, name, version, architecture, vendor, source
FROM package_facts;
DROP TABLE package_facts;
CREATE INDEX installed_packages_by_computer ON installed_packages (computer_id, import_id);
