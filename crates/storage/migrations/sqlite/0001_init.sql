-- openlmt schema, version 1. Times are Unix milliseconds (UTC).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    permissions   TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

-- A token is <id><secret>; only SHA-256(secret) is stored.
CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    secret_hash BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX tokens_by_user ON tokens(user_id, created_at);

-- active_slot is 1 while an import is pending or running and NULL after:
-- the UNIQUE constraint lets at most one import be active, whatever the
-- number of server processes sharing the database.
CREATE TABLE imports (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    import_type   TEXT NOT NULL,
    trigger       TEXT NOT NULL,
    requested_by  TEXT,
    status        TEXT NOT NULL,
    active_slot   INTEGER UNIQUE CHECK (active_slot = 1),
    requested_at  INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    progress      INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    CHECK ((active_slot IS NULL) = (status NOT IN ('pending', 'running')))
);
CREATE INDEX imports_finished ON imports(finished_at);

CREATE TABLE import_steps (
    import_id      INTEGER NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    name           TEXT NOT NULL,
    started_at     INTEGER,
    finished_at    INTEGER,
    items_read     INTEGER NOT NULL DEFAULT 0,
    items_imported INTEGER NOT NULL DEFAULT 0,
    items_rejected INTEGER NOT NULL DEFAULT 0,
    warnings       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (import_id, position)
);

-- What one import saw in its data sources (its own record; published into
-- scan_packages only when the import succeeds).
CREATE TABLE import_packages (
    import_id   INTEGER NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    data_source TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    seen_at     INTEGER NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT,
    PRIMARY KEY (import_id, data_source, file_name)
);

-- The published registry of scan packages.
CREATE TABLE scan_packages (
    data_source TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    first_seen  INTEGER NOT NULL,
    imported_at INTEGER NOT NULL,
    import_id   INTEGER NOT NULL,
    PRIMARY KEY (data_source, file_name)
);
