-- The facts a publish superseded: (computer, the import whose facts it
-- replaced). Filled in the publish transaction, emptied by the clean-up
-- that deletes those facts afterwards.
CREATE TABLE superseded_facts (
    import_id     INTEGER NOT NULL,
    computer_id   INTEGER NOT NULL,
    old_import_id INTEGER NOT NULL,
    PRIMARY KEY (import_id, computer_id)
);
