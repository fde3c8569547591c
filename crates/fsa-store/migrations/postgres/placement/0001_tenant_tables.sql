-- The tenant tables of a placement. Every table starts its keys with tenant_id
-- so a tenant can live in any placement and be moved; ids are UUIDv7 made by
-- the application.

-- One counter per database gives every insert and update a row_version; a
-- move copies what changed above a watermark of it.
CREATE SEQUENCE fsa_row_version AS bigint;

-- Per tenant: `active`, `moving_in` (a move is copying it here) or
-- `moved_out`; the routing epoch; and counters that
-- travel with the tenant (the next work order number).
CREATE TABLE tenant_state (
    tenant_id      uuid PRIMARY KEY,
    state          text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'moving_in', 'moved_out')),
    epoch          bigint NOT NULL DEFAULT 1,
    next_wo_number bigint NOT NULL DEFAULT 1000,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Foreign keys are DEFERRABLE (checked at once unless a transaction defers
-- them): a move applies each delta in one transaction, checked at commit.

CREATE TABLE users (
    tenant_id     uuid NOT NULL,
    id            uuid NOT NULL,
    email         text NOT NULL,
    name          text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'dispatcher', 'technician', 'viewer')),
    password_hash text NOT NULL,
    is_active     boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    row_version   bigint NOT NULL DEFAULT 0,
    CONSTRAINT users_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT users_email_key UNIQUE (tenant_id, email)
);
CREATE INDEX users_role_idx ON users (tenant_id, role);

CREATE TABLE clients (
    tenant_id    uuid NOT NULL,
    id           uuid NOT NULL,
    name         text NOT NULL,
    contact_name text,
    email        text,
    phone        text,
    address      text,
    is_active    boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    row_version  bigint NOT NULL DEFAULT 0,
    name_search  tsvector GENERATED ALWAYS AS (to_tsvector('simple', name)) STORED,
    CONSTRAINT clients_pkey PRIMARY KEY (tenant_id, id)
);
CREATE INDEX clients_active_idx ON clients (tenant_id, is_active);
CREATE INDEX clients_name_search_idx ON clients USING gin (name_search);

CREATE TABLE personnel (
    tenant_id   uuid NOT NULL,
    id          uuid NOT NULL,
    name        text NOT NULL,
    email       text,
    phone       text,
    skills      jsonb NOT NULL DEFAULT '[]',
    is_active   boolean NOT NULL DEFAULT true,
    user_id     uuid,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    row_version bigint NOT NULL DEFAULT 0,
    CONSTRAINT personnel_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT personnel_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) DEFERRABLE INITIALLY IMMEDIATE
);
CREATE INDEX personnel_active_idx ON personnel (tenant_id, is_active);
CREATE INDEX personnel_user_idx ON personnel (tenant_id, user_id);

CREATE TABLE work_orders (
    tenant_id       uuid NOT NULL,
    id              uuid NOT NULL,
    number          bigint NOT NULL,
    client_id       uuid NOT NULL,
    title           text NOT NULL,
    description     text,
    status          text NOT NULL CHECK (status IN ('open', 'scheduled', 'in_progress', 'on_hold', 'completed', 'cancelled')),
    held_from       text,
    priority        text NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    due_date        date,
    scheduled_start timestamptz,
    scheduled_end   timestamptz,
    assigned_to     uuid,
    attributes      jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    row_version     bigint NOT NULL DEFAULT 0,
    CONSTRAINT work_orders_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT work_orders_number_key UNIQUE (tenant_id, number),
    CONSTRAINT work_orders_client_fkey FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id) DEFERRABLE INITIALLY IMMEDIATE,
    CONSTRAINT work_orders_assigned_fkey FOREIGN KEY (tenant_id, assigned_to) REFERENCES personnel (tenant_id, id) DEFERRABLE INITIALLY IMMEDIATE
);
CREATE INDEX work_orders_status_created_idx ON work_orders (tenant_id, status, created_at DESC, id DESC);
CREATE INDEX work_orders_created_idx ON work_orders (tenant_id, created_at DESC, id DESC);
CREATE INDEX work_orders_status_due_idx ON work_orders (tenant_id, status, due_date);
CREATE INDEX work_orders_client_status_idx ON work_orders (tenant_id, client_id, status);
CREATE INDEX work_orders_assigned_idx ON work_orders (tenant_id, assigned_to);

CREATE TABLE tasks (
    tenant_id     uuid NOT NULL,
    id            uuid NOT NULL,
    work_order_id uuid NOT NULL,
    title         text NOT NULL,
    status        text NOT NULL CHECK (status IN ('todo', 'in_progress', 'done')),
    assignee_id   uuid,
    position      integer NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    row_version   bigint NOT NULL DEFAULT 0,
    CONSTRAINT tasks_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT tasks_work_order_fkey FOREIGN KEY (tenant_id, work_order_id) REFERENCES work_orders (tenant_id, id) ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE,
    CONSTRAINT tasks_assignee_fkey FOREIGN KEY (tenant_id, assignee_id) REFERENCES personnel (tenant_id, id) DEFERRABLE INITIALLY IMMEDIATE
);
CREATE INDEX tasks_work_order_idx ON tasks (tenant_id, work_order_id, position);
CREATE INDEX tasks_assignee_idx ON tasks (tenant_id, assignee_id);

CREATE TABLE file_metadata (
    tenant_id     uuid NOT NULL,
    id            uuid NOT NULL,
    work_order_id uuid NOT NULL,
    file_type     text NOT NULL,
    file_name     text NOT NULL,
    size_bytes    bigint NOT NULL,
    content_type  text NOT NULL,
    storage_key   text NOT NULL,
    sha256        text NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    row_version   bigint NOT NULL DEFAULT 0,
    CONSTRAINT file_metadata_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT file_metadata_work_order_fkey FOREIGN KEY (tenant_id, work_order_id) REFERENCES work_orders (tenant_id, id) ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE
);
CREATE INDEX file_metadata_type_idx ON file_metadata (tenant_id, file_type);
CREATE INDEX file_metadata_work_order_idx ON file_metadata (tenant_id, work_order_id);

-- A tombstone for every deleted tenant row, versioned from the same counter.
CREATE TABLE tombstones (
    tenant_id   uuid NOT NULL,
    row_version bigint NOT NULL,
    table_name  text NOT NULL,
    row_id      uuid NOT NULL,
    deleted_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tombstones_pkey PRIMARY KEY (tenant_id, row_version)
);
CREATE INDEX tombstones_row_idx ON tombstones (tenant_id, table_name, row_id);

CREATE FUNCTION fsa_bump_row_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.row_version := nextval('fsa_row_version');
    RETURN NEW;
END $$;

CREATE FUNCTION fsa_tombstone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tombstones (tenant_id, row_version, table_name, row_id)
    VALUES (OLD.tenant_id, nextval('fsa_row_version'), TG_TABLE_NAME, OLD.id);
    RETURN OLD;
END $$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'clients', 'personnel', 'work_orders', 'tasks', 'file_metadata'] LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE INSERT OR UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION fsa_bump_row_version()', t || '_row_version', t);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I FOR EACH ROW EXECUTE FUNCTION fsa_tombstone()', t || '_tombstone', t);
        EXECUTE format('CREATE INDEX %I ON %I (tenant_id, row_version)', t || '_row_version_idx', t);
    END LOOP;
END $$;

-- Row-level security: a transaction sees only the tenant named by the
-- transaction-local setting fsa.tenant_id (set by fsa_enter). FORCE applies
-- it to the tables' owner too; the service connects under the role fsa_app,
-- which is neither superuser nor BYPASSRLS.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenant_state', 'users', 'clients', 'personnel', 'work_orders', 'tasks', 'file_metadata', 'tombstones'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = nullif(current_setting('fsa.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = nullif(current_setting('fsa.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;

-- Opens a tenant transaction: sets the row-level security context, takes the
-- tenant's write lock shared for a write (a move's fence takes it
-- exclusively), and returns the tenant's state row.
CREATE FUNCTION fsa_enter(p_tenant uuid, p_write boolean)
RETURNS TABLE (state text, epoch bigint) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('fsa.tenant_id', p_tenant::text, true);
    IF p_write THEN
        PERFORM pg_advisory_xact_lock_shared(hashtextextended(p_tenant::text, 7));
    END IF;
    RETURN QUERY SELECT s.state, s.epoch FROM tenant_state s WHERE s.tenant_id = p_tenant;
END $$;

DO $$
BEGIN
    CREATE ROLE fsa_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO fsa_app;
GRANT USAGE, SELECT ON SEQUENCE fsa_row_version TO fsa_app;
