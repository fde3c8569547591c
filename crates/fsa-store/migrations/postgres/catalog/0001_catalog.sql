-- The catalog: which servers exist, which placement databases live on them,
-- and where each tenant is.

CREATE TABLE servers (
    name       text PRIMARY KEY,
    region     text NOT NULL,
    engine     text NOT NULL CHECK (engine IN ('postgres', 'sqlite')),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE placements (
    id         uuid PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    kind       text NOT NULL CHECK (kind IN ('shared', 'pooled', 'dedicated')),
    region     text NOT NULL,
    server     text NOT NULL REFERENCES servers (name),
    db_name    text NOT NULL,
    capacity   integer,
    state      text NOT NULL CHECK (state IN ('provisioning', 'ready', 'retired')),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT placements_db_key UNIQUE (server, db_name)
);
CREATE INDEX placements_kind_region_idx ON placements (kind, region);

CREATE TABLE tenants (
    id                  uuid PRIMARY KEY,
    slug                text NOT NULL,
    name                text NOT NULL,
    plan                text NOT NULL CHECK (plan IN ('free', 'basic', 'premium', 'enterprise')),
    region              text NOT NULL,
    placement_id        uuid NOT NULL REFERENCES placements (id),
    epoch               bigint NOT NULL DEFAULT 1,
    state               text NOT NULL CHECK (state IN ('provisioning', 'active')),
    isolation_requested boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);
CREATE INDEX tenants_placement_idx ON tenants (placement_id);
