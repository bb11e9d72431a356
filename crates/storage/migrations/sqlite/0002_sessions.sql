-- Browser sessions of the web panel. A session id is a random 256-bit
-- value kept only in the browser's cookie; only SHA-256(id) is stored.
CREATE TABLE sessions (
    id_hash      BLOB PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_id);
CREATE INDEX sessions_last_seen ON sessions(last_seen_at);
