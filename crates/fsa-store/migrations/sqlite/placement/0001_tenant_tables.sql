-- The tenant tables of a placement, SQLite edition. The same shape as the
-- PostgreSQL schema: tenant_id first in every key, ids are UUIDv7 (16-byte
-- blobs), timestamps are fixed-width UTC text so text order is time order.

-- One counter per database gives every insert and update a row_version.
CREATE TABLE fsa_counter (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO fsa_counter (id, value) VALUES (1, 0);

CREATE TABLE tenant_state (
    tenant_id      BLOB PRIMARY KEY,
    state          TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'moving_in', 'moved_out')),
    epoch          INTEGER NOT NULL DEFAULT 1,
    next_wo_number INTEGER NOT NULL DEFAULT 1000,
    updated_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE users (
    tenant_id     BLOB NOT NULL,
    id            BLOB NOT NULL,
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'dispatcher', 'technician', 'viewer')),
    password_hash TEXT NOT NULL,
    is_active     INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    row_version   INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT users_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT users_email_key UNIQUE (tenant_id, email)
);
CREATE INDEX users_role_idx ON users (tenant_id, role);

CREATE TABLE clients (
    tenant_id    BLOB NOT NULL,
    id           BLOB NOT NULL,
    name         TEXT NOT NULL,
    contact_name TEXT,
    email        TEXT,
    phone        TEXT,
    address      TEXT,
    is_active    INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    row_version  INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT clients_pkey PRIMARY KEY (tenant_id, id)
);
CREATE INDEX clients_active_idx ON clients (tenant_id, is_active);

-- Client name search: an external-content FTS5 index kept in step by triggers.
CREATE VIRTUAL TABLE clients_fts USING fts5(name, content='clients', content_rowid='rowid');
CREATE TRIGGER clients_fts_insert AFTER INSERT ON clients BEGIN
    INSERT INTO clients_fts (rowid, name) VALUES (NEW.rowid, NEW.name);
END;
CREATE TRIGGER clients_fts_delete AFTER DELETE ON clients BEGIN
    INSERT INTO clients_fts (clients_fts, rowid, name) VALUES ('delete', OLD.rowid, OLD.name);
END;
CREATE TRIGGER clients_fts_update AFTER UPDATE OF name ON clients BEGIN
    INSERT INTO clients_fts (clients_fts, rowid, name) VALUES ('delete', OLD.rowid, OLD.name);
    INSERT INTO clients_fts (rowid, name) VALUES (NEW.rowid, NEW.name);
END;

CREATE TABLE personnel (
    tenant_id   BLOB NOT NULL,
    id          BLOB NOT NULL,
    name        TEXT NOT NULL,
    email       TEXT,
    phone       TEXT,
    skills      TEXT NOT NULL DEFAULT '[]',
    is_active   INTEGER NOT NULL DEFAULT 1,
    user_id     BLOB,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    row_version INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT personnel_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT personnel_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX personnel_active_idx ON personnel (tenant_id, is_active);
CREATE INDEX personnel_user_idx ON personnel (tenant_id, user_id);

CREATE TABLE work_orders (
    tenant_id       BLOB NOT NULL,
    id              BLOB NOT NULL,
    number          INTEGER NOT NULL,
    client_id       BLOB NOT NULL,
    title           TEXT NOT NULL,
    description     TEXT,
    status          TEXT NOT NULL CHECK (status IN ('open', 'scheduled', 'in_progress', 'on_hold', 'completed', 'cancelled')),
    held_from       TEXT,
    priority        TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    due_date        TEXT,
    scheduled_start TEXT,
    scheduled_end   TEXT,
    assigned_to     BLOB,
    attributes      TEXT NOT NULL DEFAULT '{}',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    row_version     INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT work_orders_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT work_orders_number_key UNIQUE (tenant_id, number),
    CONSTRAINT work_orders_client_fkey FOREIGN KEY (tenant_id, client_id) REFERENCES clients (tenant_id, id),
    CONSTRAINT work_orders_assigned_fkey FOREIGN KEY (tenant_id, assigned_to) REFERENCES personnel (tenant_id, id)
);
CREATE INDEX work_orders_status_created_idx ON work_orders (tenant_id, status, created_at DESC, id DESC);
CREATE INDEX work_orders_created_idx ON work_orders (tenant_id, created_at DESC, id DESC);
CREATE INDEX work_orders_status_due_idx ON work_orders (tenant_id, status, due_date);
CREATE INDEX work_orders_client_status_idx ON work_orders (tenant_id, client_id, status);
CREATE INDEX work_orders_assigned_idx ON work_orders (tenant_id, assigned_to);

CREATE TABLE tasks (
    tenant_id     BLOB NOT NULL,
    id            BLOB NOT NULL,
    work_order_id BLOB NOT NULL,
    title         TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('todo', 'in_progress', 'done')),
    assignee_id   BLOB,
    position      INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    row_version   INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT tasks_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT tasks_work_order_fkey FOREIGN KEY (tenant_id, work_order_id) REFERENCES work_orders (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT tasks_assignee_fkey FOREIGN KEY (tenant_id, assignee_id) REFERENCES personnel (tenant_id, id)
);
CREATE INDEX tasks_work_order_idx ON tasks (tenant_id, work_order_id, position);
CREATE INDEX tasks_assignee_idx ON tasks (tenant_id, assignee_id);

CREATE TABLE file_metadata (
    tenant_id     BLOB NOT NULL,
    id            BLOB NOT NULL,
    work_order_id BLOB NOT NULL,
    file_type     TEXT NOT NULL,
    file_name     TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL,
    content_type  TEXT NOT NULL,
    storage_key   TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    row_version   INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT file_metadata_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT file_metadata_work_order_fkey FOREIGN KEY (tenant_id, work_order_id) REFERENCES work_orders (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX file_metadata_type_idx ON file_metadata (tenant_id, file_type);
CREATE INDEX file_metadata_work_order_idx ON file_metadata (tenant_id, work_order_id);

-- A tombstone for every deleted tenant row, versioned from the same counter.
CREATE TABLE tombstones (
    tenant_id   BLOB NOT NULL,
    row_version INTEGER NOT NULL,
    table_name  TEXT NOT NULL,
    row_id      BLOB NOT NULL,
    deleted_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CONSTRAINT tombstones_pkey PRIMARY KEY (tenant_id, row_version)
);
CREATE INDEX tombstones_row_idx ON tombstones (tenant_id, table_name, row_id);

-- row_version and tombstone triggers (recursive triggers are off, so the
-- UPDATE inside an AFTER UPDATE trigger does not fire it again).

CREATE INDEX users_row_version_idx ON users (tenant_id, row_version);
CREATE TRIGGER users_row_version_insert AFTER INSERT ON users BEGIN
    UPDATE fsa_counter SET value = value + 1 WHERE id = 1;
    UPDATE users SET row_version = (SELECT value FROM fsa_counter WHERE id = 1) WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER users_row_version_update AFTER UPDATE ON users BEGIN
    UPDATE fsa_counter SET value = value + 1 WHERE id = 1;
    UPDATE users SET row_version = (SELECT value FROM fsa_counter WHERE id = 1) WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER users_tombstone AFTER DELETE ON users BEGIN
    UPDATE fsa_counter SET value = value + 1 WHERE id = 1;
    INSERT INTO tombstones (tenant_id, row_version, table_name, row_id)
    VALUES (OLD.tenant_id, (SELECT value FROM fsa_counter WHERE id = 1), 'users', OLD.id);
END;

CREATE INDEX clients_row_version_idx ON clients (tenant_id, row_version);
CREATE TRIGGER clients_row_version_insert AFTER INSERT ON clients BEGIN
    UPDATE fsa_counter SET value = value + 1 WHERE id = 1;
    UPDATE clients SET row_version = (SELECT value FROM fsa_counter WHERE id = 1) WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER clients_row_version_update AFTER UPDATE ON clients BEGIN
    UPDATE fsa_counter SET value = value + 1 WHERE id = 1;
    UPDATE clients SET row_version = (SELECT value FROM fsa_counter WHERE id = 1) WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER clients_tombstone AFTER DELETE ON clients BEGIN
    UPDATE fsa_counter SET value = value + 1 WHERE id = 1;
    INSERT INTO tombstones (tenant_id, row_version, table_name, row_id)
    VALUES (OLD.tenant_id, (SELECT value FROM fsa_counter WHERE id = 1), 'clients', OLD.id);
END;

CREATE INDEX personnel_row_version_idx ON personnel (tenant_id, row_version);
CREATE TRIGGER personnel_row_version_insert AFTER INSERT ON personnel BEGIN
    UPDATE fsa_counter SET value = value + 1 WHERE id = 1;
    UPDATE personnel SET row_version = (SELECT value FROM fsa_counter WHERE id = 1) WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER personnel_row_version_update AFTER UPDATE ON personnel BEGIN
    UPDATE fsa_counter SET value = value + 1 WHERE id = 1;
    UPDATE personnel SET row_version = (SELECT value FROM fsa_counter WHERE id = 1) WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER personnel_tombstone AFTER DELETE ON personnel BEGIN
    UPDATE fsa_counter SET value = value + 1 WHERE id = 1;
    INSERT INTO tombstones (tenant_id, row_version, table_name, row_id)
    VALUES (OLD.tenant_id, (SELECT value FROM fsa_counter WHERE id = 1), 'personnel', OLD.id);
END;

CREATE INDEX work_orders_row_version_idx ON work_orders (tenant_id, row_version);
CREATE TRIGGER work_orders_row_version_insert AFTER INSERT ON work_orders BEGIN
    UPDATE fsa_counter SET value = value + 1 WHERE id = 1;
    UPDATE work_orders SET row_version = (SELECT value FROM fsa_counter WHERE id = 1) WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER work_orders_row_version_update AFTER UPDATE ON work_orders BEGIN
    UPDATE fsa_counter SET value = value + 1 WHERE id = 1;
    UPDATE work_orders SET row_version = (SELECT value FROM fsa_counter WHERE id = 1) WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER work_orders_tombstone AFTER DELETE ON work_orders BEGIN
    UPDATE fsa_counter SET value = value + 1 WHERE id = 1;
    INSERT INTO tombstones (tenant_id, row_version, table_name, row_id)
    VALUES (OLD.tenant_id, (SELECT value FROM fsa_counter WHERE id = 1), 'work_orders', OLD.id);
END;

CREATE INDEX tasks_row_version_idx ON tasks (tenant_id, row_version);
CREATE TRIGGER tasks_row_version_insert AFTER INSERT ON tasks BEGIN
    UPDATE fsa_counter SET value = value + 1 WHERE id = 1;
    UPDATE tasks SET row_version = (SELECT value FROM fsa_counter WHERE id = 1) WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER tasks_row_version_update AFTER UPDATE ON tasks BEGIN
    UPDATE fsa_counter SET value = value + 1 WHERE id = 1;
    UPDATE tasks SET row_version = (SELECT value FROM fsa_counter WHERE id = 1) WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER tasks_tombstone AFTER DELETE ON tasks BEGIN
    UPDATE fsa_counter SET value = value + 1 WHERE id = 1;
    INSERT INTO tombstones (tenant_id, row_version, table_name, row_id)
    VALUES (OLD.tenant_id, (SELECT value FROM fsa_counter WHERE id = 1), 'tasks', OLD.id);
END;

CREATE INDEX file_metadata_row_version_idx ON file_metadata (tenant_id, row_version);
CREATE TRIGGER file_metadata_row_version_insert AFTER INSERT ON file_metadata BEGIN
    UPDATE fsa_counter SET value = value + 1 WHERE id = 1;
    UPDATE file_metadata SET row_version = (SELECT value FROM fsa_counter WHERE id = 1) WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER file_metadata_row_version_update AFTER UPDATE ON file_metadata BEGIN
    UPDATE fsa_counter SET value = value + 1 WHERE id = 1;
    UPDATE file_metadata SET row_version = (SELECT value FROM fsa_counter WHERE id = 1) WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER file_metadata_tombstone AFTER DELETE ON file_metadata BEGIN
    UPDATE fsa_counter SET value = value + 1 WHERE id = 1;
    INSERT INTO tombstones (tenant_id, row_version, table_name, row_id)
    VALUES (OLD.tenant_id, (SELECT value FROM fsa_counter WHERE id = 1), 'file_metadata', OLD.id);
END;
