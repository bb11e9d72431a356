-- Software discovery (issue 8) needs two more things of a SWID tag: its
-- Meta/@persistentId (IBM tags carry the product's persistent id there, which
-- the catalog's strongest SWID signature names) and the directory the scanner
-- found the tag in (the instance's discovery path). Both are NULL for tags of
-- scan packages that do not say.
ALTER TABLE swid_facts ADD COLUMN persistent_id TEXT;
ALTER TABLE swid_facts ADD COLUMN directory TEXT;
