-- Tenant moves: the state machine of each, and its report.
CREATE TABLE moves (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    from_placement   uuid NOT NULL REFERENCES placements (id),
    to_placement     uuid REFERENCES placements (id),
    target           text NOT NULL,
    target_region    text NOT NULL,
    state            text NOT NULL CHECK (state IN ('planned', 'provisioning', 'copying', 'catching_up', 'verifying',
                                                    'fenced', 'switched', 'cleaning', 'done', 'failed', 'rolled_back')),
    cancel_requested boolean NOT NULL DEFAULT false,
    cleanup_after_ms bigint NOT NULL DEFAULT 0,
    requested_by     text NOT NULL,
    reason           text NOT NULL,
    plan_after       text,
    watermark        bigint,
    report           text NOT NULL DEFAULT '{}',
    error            text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    switched_at      timestamptz,
    finished_at      timestamptz
);
CREATE UNIQUE INDEX moves_one_open_per_tenant ON moves (tenant_id) WHERE state NOT IN ('done', 'rolled_back');
CREATE INDEX moves_created_idx ON moves (created_at);
