-- The fleet's schema ledger: every placement migration applied, with the
-- checksum of its SQL, when and how long it took; and each placement's
-- schema state, so `fsa db status` answers from the catalog alone and a
-- failed placement is named until a rerun brings it up to date.
CREATE TABLE schema_ledger (
    placement_id uuid NOT NULL REFERENCES placements (id) ON DELETE CASCADE,
    version      bigint NOT NULL,
    description  text NOT NULL,
    checksum     text NOT NULL,
    applied_at   timestamptz NOT NULL,
    duration_ms  bigint NOT NULL,
    PRIMARY KEY (placement_id, version)
);

CREATE TABLE placement_schema (
    placement_id uuid PRIMARY KEY REFERENCES placements (id) ON DELETE CASCADE,
    version      bigint NOT NULL,
    state        text NOT NULL CHECK (state IN ('current', 'behind', 'migrating', 'failed')),
    error        text,
    updated_at   timestamptz NOT NULL
);
