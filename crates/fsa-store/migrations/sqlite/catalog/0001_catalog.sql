-- The catalog: which servers exist, which placement databases live on them,
-- and where each tenant is.

CREATE TABLE servers (
    name       TEXT PRIMARY KEY,
    region     TEXT NOT NULL,
    engine     TEXT NOT NULL CHECK (engine IN ('postgres', 'sqlite')),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE placements (
    id         BLOB PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL CHECK (kind IN ('shared', 'pooled', 'dedicated')),
    region     TEXT NOT NULL,
    server     TEXT NOT NULL REFERENCES servers (name),
    db_name    TEXT NOT NULL,
    capacity   INTEGER,
    state      TEXT NOT NULL CHECK (state IN ('provisioning', 'ready', 'retired')),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CONSTRAINT placements_db_key UNIQUE (server, db_name)
);
CREATE INDEX placements_kind_region_idx ON placements (kind, region);

CREATE TABLE tenants (
    id                  BLOB PRIMARY KEY,
    slug                TEXT NOT NULL,
    name                TEXT NOT NULL,
    plan                TEXT NOT NULL CHECK (plan IN ('free', 'basic', 'premium', 'enterprise')),
    region              TEXT NOT NULL,
    placement_id        BLOB NOT NULL REFERENCES placements (id),
    epoch               INTEGER NOT NULL DEFAULT 1,
    state               TEXT NOT NULL CHECK (state IN ('provisioning', 'active')),
    isolation_requested INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);
CREATE INDEX tenants_placement_idx ON tenants (placement_id);
