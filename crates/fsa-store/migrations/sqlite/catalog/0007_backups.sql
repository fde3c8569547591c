-- Backups of one tenant each. A row is written when a backup starts and
-- finished with its manifest; the backup's parts live in the backup store
-- under `<id>/`. No foreign key to tenants: a backup outlives its tenant.
CREATE TABLE backups (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL,
    tenant_slug TEXT NOT NULL,
    plan        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    reason      TEXT NOT NULL,
    size_bytes  INTEGER,
    manifest    TEXT,
    error       TEXT,
    created_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX backups_tenant_idx ON backups (tenant_id, created_at);
