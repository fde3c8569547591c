-- Backups of one tenant each. A row is written when a backup starts and
-- finished with its manifest; the backup's parts live in the backup store
-- under `<id>/`. No foreign key to tenants: a backup outlives its tenant.
CREATE TABLE backups (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL,
    tenant_slug text NOT NULL,
    plan        text NOT NULL,
    state       text NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    reason      text NOT NULL,
    size_bytes  bigint,
    manifest    text,
    error       text,
    created_at  timestamptz NOT NULL,
    finished_at timestamptz
);
CREATE INDEX backups_tenant_idx ON backups (tenant_id, created_at);
