-- Inventory and raw facts (issue 3).
--
-- Visibility rule: a computer is visible once `published = 1`; its raw facts
-- (package_facts, swid_facts) are the rows whose import_id equals the
-- computer's facts_import_id. An import writes its facts directly under its
-- own import_id (invisible), stages per-computer values in stage_computers,
-- and its publish transaction flips facts_import_id and copies the staged
-- values. Rows of superseded or unpublished imports are deleted afterwards.

ALTER TABLE scan_packages ADD COLUMN state TEXT NOT NULL DEFAULT 'imported'; -- imported | rejected | skipped
ALTER TABLE scan_packages ADD COLUMN reason TEXT;
ALTER TABLE scan_packages ADD COLUMN mtime_ns INTEGER;
ALTER TABLE import_packages ADD COLUMN mtime_ns INTEGER;
ALTER TABLE import_packages ADD COLUMN endpoint_id TEXT;
ALTER TABLE import_packages ADD COLUMN scan_time INTEGER;

CREATE TABLE computers (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    data_source          TEXT NOT NULL,
    endpoint_id          TEXT NOT NULL,
    published            INTEGER NOT NULL DEFAULT 0,
    facts_import_id      INTEGER,
    name                 TEXT,
    dns_name             TEXT,
    ip_addresses         TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    os                   TEXT,
    agent_version        TEXT,
    scan_time            INTEGER,                    -- of the package the facts come from
    first_seen           INTEGER,
    last_seen            INTEGER,
    is_deleted           INTEGER NOT NULL DEFAULT 0,
    deleted_at           INTEGER,
    -- raw capacity, published by every import
    raw_processor_vendor TEXT,
    raw_processor_brand  TEXT,
    raw_processor_model  TEXT,
    raw_sockets          INTEGER,
    raw_cores            INTEGER,
    raw_threads          INTEGER,
    raw_is_virtual       INTEGER,
    raw_hypervisor       TEXT,
    -- inventory, published by complete imports only
    in_inventory         INTEGER NOT NULL DEFAULT 0,
    processor_vendor     TEXT,
    processor_brand      TEXT,
    processor_model      TEXT,
    sockets              INTEGER,
    cores                INTEGER,
    threads              INTEGER,
    is_virtual           INTEGER,
    hypervisor           TEXT,
    UNIQUE (data_source, endpoint_id)
);

CREATE TABLE stage_computers (
    import_id            INTEGER NOT NULL,
    computer_id          INTEGER NOT NULL,
    name                 TEXT,
    dns_name             TEXT,
    ip_addresses         TEXT NOT NULL DEFAULT '[]',
    os                   TEXT,
    agent_version        TEXT,
    scan_time            INTEGER NOT NULL,
    raw_processor_vendor TEXT,
    raw_processor_brand  TEXT,
    raw_processor_model  TEXT,
    raw_sockets          INTEGER,
    raw_cores            INTEGER,
    raw_threads          INTEGER,
    raw_is_virtual       INTEGER,
    raw_hypervisor       TEXT,
    PRIMARY KEY (import_id, computer_id)
);

CREATE TABLE package_facts (
    computer_id  INTEGER NOT NULL,
    import_id    INTEGER NOT NULL,
    name         TEXT NOT NULL,
    version      TEXT,
    architecture TEXT,
    vendor       TEXT,
    source       TEXT NOT NULL -- dpkg | rpm
);
CREATE INDEX package_facts_by_computer ON package_facts (computer_id, import_id);

CREATE TABLE swid_facts (
    computer_id INTEGER NOT NULL,
    import_id   INTEGER NOT NULL,
    tag_id      TEXT NOT NULL,
    name        TEXT,
    version     TEXT,
    regid       TEXT,
    vendor      TEXT,
    schema      TEXT NOT NULL -- 2015 | 2009
);
CREATE INDEX swid_facts_by_computer ON swid_facts (computer_id, import_id);
