-- The software inventory (issue 8): the operator's catalog layer, the
-- catalog the inventory was discovered with, software instances with their
-- bundling, exclusions, suppressions and the classification audit trail.

-- The operator's catalog layer (the bundled layer is inside the binary).
-- `document` is the JSON as accepted; it is validated whole before it is
-- stored, so a stored layer always loaded over the bundled layer of the
-- version that stored it.
CREATE TABLE catalog_layers (
    layer           TEXT PRIMARY KEY, -- 'operator'
    catalog_version TEXT NOT NULL,
    document        TEXT NOT NULL,
    set_at          INTEGER NOT NULL,
    set_by          TEXT
);

-- The products, components and bundling options of the catalog that the
-- current software inventory was discovered with, written by the publish of
-- a complete import whose discovery used a changed catalog. Rows are kept
-- (in_catalog = 0) when a later catalog drops them, so older instances and
-- manual assignments still name their product.
CREATE TABLE inventory_products (
    id         TEXT PRIMARY KEY,
    publisher  TEXT NOT NULL,
    name       TEXT NOT NULL,
    release    TEXT,
    metric     TEXT,              -- PVU | RVU_MAPC | VPC | NULL
    in_catalog INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE inventory_components (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    release    TEXT,
    publisher  TEXT,              -- of its first product, when it has one
    in_catalog INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE inventory_bundling_options (
    component_id TEXT NOT NULL,
    product_id   TEXT NOT NULL,
    charged      INTEGER NOT NULL,
    PRIMARY KEY (component_id, product_id)
);

-- One row per component per computer per discovery path, ever: the row id
-- is the instance_id, stable across imports. An instance that is no longer
-- found keeps its row (is_present = 0, discovery_end set) as history; when
-- it is found again the same row comes back with its assignment.
--
-- Visibility: a complete import's discovery inserts the instances it finds
-- for the first time straight into this table, under its own
-- start_import_id, and lists the import in unpublished_discoveries; rows of
-- an import listed there are invisible (every read filters them out). The
-- import's publish transaction removes the entry, which makes them visible
-- at once, whatever their number; a failed import's rows are deleted by the
-- clean-up (by id range, from first_id). Changes to rows that exist go
-- through stage_instances and are applied by the publish.
CREATE TABLE software_instances (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    computer_id      INTEGER NOT NULL,
    component_id     TEXT NOT NULL,
    discovery_path   TEXT NOT NULL,   -- a SWID tag's directory; 'dpkg' or 'rpm' for packages
    signature_kind   TEXT NOT NULL,   -- swid_persistent_id | … | package_regex
    evidence_source  TEXT NOT NULL,   -- swid | dpkg | rpm
    evidence_name    TEXT NOT NULL,   -- the tagId or the package name
    evidence_version TEXT,            -- the tag's or the package's version
    detailed_version TEXT,
    is_present       INTEGER NOT NULL,
    start_import_id  INTEGER NOT NULL,
    discovery_start  INTEGER NOT NULL,
    end_import_id    INTEGER,
    discovery_end    INTEGER,
    product_id       TEXT,            -- NULL: the component has no product
    is_charged       INTEGER NOT NULL DEFAULT 0,
    bundling_rule    INTEGER,         -- ILMT's bundling_evidence ids 1–6
    bundling_details TEXT,            -- JSON object
    is_confirmed     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (computer_id, component_id, discovery_path)
);
CREATE INDEX software_instances_by_product ON software_instances (product_id, computer_id);

-- Imports whose discovery inserted instances not yet published; first_id is
-- the lowest id they may have.
CREATE TABLE unpublished_discoveries (
    import_id INTEGER PRIMARY KEY,
    first_id  INTEGER NOT NULL
);

-- Exclusion is per product per computer; suppression per component per
-- computer. Both apply to every instance, present and future, while the row
-- exists (retroactive); removing the row includes/unsuppresses.
CREATE TABLE software_exclusions (
    computer_id INTEGER NOT NULL,
    product_id  TEXT NOT NULL,
    comment     TEXT NOT NULL,
    set_by      TEXT NOT NULL,
    set_at      INTEGER NOT NULL,
    PRIMARY KEY (computer_id, product_id)
);
CREATE TABLE software_suppressions (
    computer_id  INTEGER NOT NULL,
    component_id TEXT NOT NULL,
    comment      TEXT NOT NULL,
    set_by       TEXT NOT NULL,
    set_at       INTEGER NOT NULL,
    PRIMARY KEY (computer_id, component_id)
);

-- Every classification change, who made it and when.
CREATE TABLE classification_audit (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    user_name    TEXT NOT NULL,
    action       TEXT NOT NULL, -- assign | confirm | unconfirm | exclude | include | suppress | unsuppress
    instance_id  INTEGER,
    computer_id  INTEGER NOT NULL,
    component_id TEXT,
    product_id   TEXT,
    comment      TEXT,
    details      TEXT           -- JSON object: the values before and after
);
CREATE INDEX classification_audit_by_instance ON classification_audit (instance_id);

-- What a complete import's discovery step changes in instances that exist,
-- invisible until its publish applies it (then deleted): the computers it
-- re-discovered (with the facts they were matched on), and for their stored
-- instances each change (found again, new evidence or assignment, or no
-- longer found).
CREATE TABLE stage_discovery (
    import_id       INTEGER NOT NULL,
    computer_id     INTEGER NOT NULL,
    facts_import_id INTEGER NOT NULL,
    PRIMARY KEY (import_id, computer_id)
);
CREATE TABLE stage_instances (
    import_id        INTEGER NOT NULL,
    instance_id      INTEGER NOT NULL,
    ended            INTEGER NOT NULL, -- 1: no longer found; 0: found, with these values
    signature_kind   TEXT,
    evidence_source  TEXT,
    evidence_name    TEXT,
    evidence_version TEXT,
    detailed_version TEXT,
    product_id       TEXT,
    is_charged       INTEGER,
    bundling_rule    INTEGER,
    bundling_details TEXT,
    discovery_path   TEXT,             -- set when the instance moved to this path
    PRIMARY KEY (import_id, instance_id)
);

-- The facts import a computer's software instances were last discovered
-- from: a complete import re-discovers a computer only when its facts or
-- the catalog changed since.
ALTER TABLE computers ADD COLUMN discovered_facts_import_id INTEGER;

-- The two new permissions (view_software, manage_software_classification)
-- go to every user who held every permission there was (the first `admin`
-- is created with all of them), so that an administrator keeps being one.
UPDATE users SET permissions = permissions || ',view_software,manage_software_classification'
WHERE instr(',' || permissions || ',', ',manage_imports,') > 0
  AND instr(',' || permissions || ',', ',upload_scan_results,') > 0
  AND instr(',' || permissions || ',', ',view_endpoints,') > 0
  AND instr(',' || permissions || ',', ',view_raw_data,') > 0;
