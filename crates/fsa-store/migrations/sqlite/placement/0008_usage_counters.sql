-- Usage as counters that travel with the tenant's rows (see PostgreSQL's
-- 0008): per tenant and resource, the count of rows (the sum of size_bytes
-- for file_bytes), kept by triggers on every insert and delete. An absent
-- row means zero; a counter that reaches zero is removed. Written to run
-- again over itself: the counts are set, not added.
CREATE TABLE IF NOT EXISTS tenant_usage (
    tenant_id BLOB NOT NULL,
    resource  TEXT NOT NULL,
    used      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, resource)
) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS users_usage_add AFTER INSERT ON users BEGIN
    INSERT INTO tenant_usage (tenant_id, resource, used) VALUES (NEW.tenant_id, 'users', 1)
    ON CONFLICT (tenant_id, resource) DO UPDATE SET used = used + 1;
END;
CREATE TRIGGER IF NOT EXISTS users_usage_remove AFTER DELETE ON users BEGIN
    UPDATE tenant_usage SET used = used - 1 WHERE tenant_id = OLD.tenant_id AND resource = 'users';
    DELETE FROM tenant_usage WHERE tenant_id = OLD.tenant_id AND resource = 'users' AND used = 0;
END;

CREATE TRIGGER IF NOT EXISTS clients_usage_add AFTER INSERT ON clients BEGIN
    INSERT INTO tenant_usage (tenant_id, resource, used) VALUES (NEW.tenant_id, 'clients', 1)
    ON CONFLICT (tenant_id, resource) DO UPDATE SET used = used + 1;
END;
CREATE TRIGGER IF NOT EXISTS clients_usage_remove AFTER DELETE ON clients BEGIN
    UPDATE tenant_usage SET used = used - 1 WHERE tenant_id = OLD.tenant_id AND resource = 'clients';
    DELETE FROM tenant_usage WHERE tenant_id = OLD.tenant_id AND resource = 'clients' AND used = 0;
END;

CREATE TRIGGER IF NOT EXISTS personnel_usage_add AFTER INSERT ON personnel BEGIN
    INSERT INTO tenant_usage (tenant_id, resource, used) VALUES (NEW.tenant_id, 'personnel', 1)
    ON CONFLICT (tenant_id, resource) DO UPDATE SET used = used + 1;
END;
CREATE TRIGGER IF NOT EXISTS personnel_usage_remove AFTER DELETE ON personnel BEGIN
    UPDATE tenant_usage SET used = used - 1 WHERE tenant_id = OLD.tenant_id AND resource = 'personnel';
    DELETE FROM tenant_usage WHERE tenant_id = OLD.tenant_id AND resource = 'personnel' AND used = 0;
END;

CREATE TRIGGER IF NOT EXISTS work_orders_usage_add AFTER INSERT ON work_orders BEGIN
    INSERT INTO tenant_usage (tenant_id, resource, used) VALUES (NEW.tenant_id, 'work_orders', 1)
    ON CONFLICT (tenant_id, resource) DO UPDATE SET used = used + 1;
END;
CREATE TRIGGER IF NOT EXISTS work_orders_usage_remove AFTER DELETE ON work_orders BEGIN
    UPDATE tenant_usage SET used = used - 1 WHERE tenant_id = OLD.tenant_id AND resource = 'work_orders';
    DELETE FROM tenant_usage WHERE tenant_id = OLD.tenant_id AND resource = 'work_orders' AND used = 0;
END;

CREATE TRIGGER IF NOT EXISTS file_metadata_usage_add AFTER INSERT ON file_metadata WHEN NEW.size_bytes <> 0 BEGIN
    INSERT INTO tenant_usage (tenant_id, resource, used) VALUES (NEW.tenant_id, 'file_bytes', NEW.size_bytes)
    ON CONFLICT (tenant_id, resource) DO UPDATE SET used = used + NEW.size_bytes;
END;
CREATE TRIGGER IF NOT EXISTS file_metadata_usage_remove AFTER DELETE ON file_metadata WHEN OLD.size_bytes <> 0 BEGIN
    UPDATE tenant_usage SET used = used - OLD.size_bytes WHERE tenant_id = OLD.tenant_id AND resource = 'file_bytes';
    DELETE FROM tenant_usage WHERE tenant_id = OLD.tenant_id AND resource = 'file_bytes' AND used = 0;
END;
CREATE TRIGGER IF NOT EXISTS file_metadata_usage_resize AFTER UPDATE OF size_bytes ON file_metadata
WHEN NEW.size_bytes <> OLD.size_bytes BEGIN
    INSERT INTO tenant_usage (tenant_id, resource, used) VALUES (NEW.tenant_id, 'file_bytes', NEW.size_bytes - OLD.size_bytes)
    ON CONFLICT (tenant_id, resource) DO UPDATE SET used = used + NEW.size_bytes - OLD.size_bytes;
    DELETE FROM tenant_usage WHERE tenant_id = NEW.tenant_id AND resource = 'file_bytes' AND used = 0;
END;

INSERT INTO tenant_usage (tenant_id, resource, used)
SELECT tenant_id, resource, used FROM (
    SELECT tenant_id, 'users' AS resource, count(*) AS used FROM users GROUP BY tenant_id
    UNION ALL SELECT tenant_id, 'clients', count(*) FROM clients GROUP BY tenant_id
    UNION ALL SELECT tenant_id, 'personnel', count(*) FROM personnel GROUP BY tenant_id
    UNION ALL SELECT tenant_id, 'work_orders', count(*) FROM work_orders GROUP BY tenant_id
    UNION ALL SELECT tenant_id, 'file_bytes', sum(size_bytes) FROM file_metadata GROUP BY tenant_id
) WHERE used <> 0
ON CONFLICT (tenant_id, resource) DO UPDATE SET used = excluded.used;
