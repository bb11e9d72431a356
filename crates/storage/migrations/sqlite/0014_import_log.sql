-- The import log in the database (issue 10, item 3): every replica serving
-- one database answers `GET /api/imports/{id}/log` for any import, whichever
-- replica's data directory ran it. One row per line; `seq` (the rowid) is
-- the order the lines were stored in, across all imports, so an import's
-- lines read back by `seq` in the order they were written. `at_ms` is the
-- line's time (Unix milliseconds), `level` INFO, WARN or ERROR. The lines
-- go with their import (history retention deletes the import row).
CREATE TABLE import_log_lines (
    seq       INTEGER PRIMARY KEY,
    import_id INTEGER NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    at_ms     INTEGER NOT NULL,
    level     TEXT NOT NULL,
    message   TEXT NOT NULL
);
CREATE INDEX import_log_lines_by_import ON import_log_lines (import_id, seq);
