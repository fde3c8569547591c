-- The fleet's schema ledger: every placement migration applied, with the
-- checksum of its SQL, when and how long it took; and each placement's
-- schema state, so `fsa db status` answers from the catalog alone and a
-- failed placement is named until a rerun brings it up to date.
CREATE TABLE schema_ledger (
    placement_id BLOB NOT NULL REFERENCES placements (id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    description  TEXT NOT NULL,
    checksum     TEXT NOT NULL,
    applied_at   TEXT NOT NULL,
    duration_ms  INTEGER NOT NULL,
    PRIMARY KEY (placement_id, version)
);

CREATE TABLE placement_schema (
    placement_id BLOB PRIMARY KEY REFERENCES placements (id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('current', 'behind', 'migrating', 'failed')),
    error        TEXT,
    updated_at   TEXT NOT NULL
);
