-- The daily re-import (issue 11, item 4): most computers send a new scan
-- package every day whose installed packages and SWID tags are those of the
-- day before. Each package's fact members are hashed (the digest of
-- openlmt_scanpkg::FactsDigest, hex) and the digest published with the
-- facts; a package whose digest equals its computer's published one is not
-- parsed for its facts and its facts are not written: its staged row says
-- `facts_kept`, and the publish leaves the computer's facts_import_id (its
-- visible facts) as it is and records nothing superseded for it.
ALTER TABLE computers ADD COLUMN facts_digest TEXT;
ALTER TABLE stage_computers ADD COLUMN facts_digest TEXT;
ALTER TABLE stage_computers ADD COLUMN facts_kept INTEGER NOT NULL DEFAULT 0;
