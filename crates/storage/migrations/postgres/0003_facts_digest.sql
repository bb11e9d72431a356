-- PostgreSQL twin of migrations/sqlite/0011: the digest of each computer's
-- published facts, and a staged computer's digest and whether its facts are
-- kept (see the SQLite migration).
ALTER TABLE computers ADD COLUMN facts_digest TEXT;
ALTER TABLE stage_computers ADD COLUMN facts_digest TEXT;
ALTER TABLE stage_computers ADD COLUMN facts_kept BIGINT NOT NULL DEFAULT 0;
