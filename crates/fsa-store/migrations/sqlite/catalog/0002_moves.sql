-- Tenant moves: the state machine of each, and its report.
CREATE TABLE moves (
    id               BLOB PRIMARY KEY,
    tenant_id        BLOB NOT NULL REFERENCES tenants (id),
    from_placement   BLOB NOT NULL REFERENCES placements (id),
    to_placement     BLOB REFERENCES placements (id),
    target           TEXT NOT NULL,
    target_region    TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('planned', 'provisioning', 'copying', 'catching_up', 'verifying',
                                                    'fenced', 'switched', 'cleaning', 'done', 'failed', 'rolled_back')),
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    cleanup_after_ms INTEGER NOT NULL DEFAULT 0,
    requested_by     TEXT NOT NULL,
    reason           TEXT NOT NULL,
    plan_after       TEXT,
    watermark        INTEGER,
    report           TEXT NOT NULL DEFAULT '{}',
    error            TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    switched_at      TEXT,
    finished_at      TEXT
);
CREATE UNIQUE INDEX moves_one_open_per_tenant ON moves (tenant_id) WHERE state NOT IN ('done', 'rolled_back');
CREATE INDEX moves_created_idx ON moves (created_at);
