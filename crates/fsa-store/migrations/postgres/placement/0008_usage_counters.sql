-- Usage as counters that travel with the tenant's rows.
--
-- A plan limit used to be checked by counting the tenant's rows on every
-- create, under the tenant's state row lock: the check grew with the tenant
-- and serialised its creates behind a scan. tenant_usage keeps, per tenant
-- and resource, the count of rows (the sum of size_bytes for file_bytes),
-- kept by statement triggers on every insert and delete, whoever makes them:
-- a request, a move's copy or cleanup, a restore, an import. A move needs
-- nothing of its own: the rows it writes into the target count there, the
-- rows it purges at the source stop counting. An absent row means zero; a
-- counter that reaches zero is removed. Written to run again over itself:
-- the counts are set, not added.
--
-- The functions run as the tables' owner, so a counter follows its rows even
-- when the statement's row-level security context is not the tenant's.
CREATE TABLE IF NOT EXISTS tenant_usage (
    tenant_id uuid NOT NULL,
    resource  text NOT NULL,
    used      bigint NOT NULL,
    PRIMARY KEY (tenant_id, resource)
);

ALTER TABLE tenant_usage ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON tenant_usage;
CREATE POLICY tenant_isolation ON tenant_usage
    USING (tenant_id = nullif(current_setting('fsa.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('fsa.tenant_id', true), '')::uuid);
GRANT SELECT ON tenant_usage TO fsa_app;

CREATE OR REPLACE FUNCTION fsa_usage_add() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_TABLE_NAME = 'file_metadata' THEN
        INSERT INTO tenant_usage AS u (tenant_id, resource, used)
        SELECT tenant_id, 'file_bytes', sum(size_bytes) FROM fsa_new GROUP BY tenant_id
        ON CONFLICT (tenant_id, resource) DO UPDATE SET used = u.used + excluded.used;
    ELSE
        INSERT INTO tenant_usage AS u (tenant_id, resource, used)
        SELECT tenant_id, TG_TABLE_NAME, count(*) FROM fsa_new GROUP BY tenant_id
        ON CONFLICT (tenant_id, resource) DO UPDATE SET used = u.used + excluded.used;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION fsa_usage_remove() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    -- Each branch names only columns its table has.
    IF TG_TABLE_NAME = 'file_metadata' THEN
        UPDATE tenant_usage u SET used = u.used - gone.n
        FROM (SELECT tenant_id, sum(size_bytes) AS n FROM fsa_old GROUP BY tenant_id) gone
        WHERE u.tenant_id = gone.tenant_id AND u.resource = 'file_bytes';
    ELSE
        UPDATE tenant_usage u SET used = u.used - gone.n
        FROM (SELECT tenant_id, count(*) AS n FROM fsa_old GROUP BY tenant_id) gone
        WHERE u.tenant_id = gone.tenant_id AND u.resource = TG_TABLE_NAME;
    END IF;
    DELETE FROM tenant_usage u
    WHERE u.resource = CASE TG_TABLE_NAME WHEN 'file_metadata' THEN 'file_bytes' ELSE TG_TABLE_NAME END
      AND u.used = 0
      AND u.tenant_id IN (SELECT DISTINCT tenant_id FROM fsa_old);
    RETURN NULL;
END $$;

-- file_metadata's size does not change today; a change would still count.
CREATE OR REPLACE FUNCTION fsa_usage_resize() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO tenant_usage AS u (tenant_id, resource, used)
    SELECT tenant_id, 'file_bytes', sum(n) FROM (
        SELECT tenant_id, size_bytes AS n FROM fsa_new
        UNION ALL
        SELECT tenant_id, -size_bytes FROM fsa_old
    ) d GROUP BY tenant_id HAVING sum(n) <> 0
    ON CONFLICT (tenant_id, resource) DO UPDATE SET used = u.used + excluded.used;
    DELETE FROM tenant_usage u
    WHERE u.resource = 'file_bytes' AND u.used = 0
      AND u.tenant_id IN (SELECT DISTINCT tenant_id FROM fsa_old);
    RETURN NULL;
END $$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'clients', 'personnel', 'work_orders', 'file_metadata'] LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS fsa_new FOR EACH STATEMENT EXECUTE FUNCTION fsa_usage_add()', t || '_usage_add', t);
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS fsa_old FOR EACH STATEMENT EXECUTE FUNCTION fsa_usage_remove()', t || '_usage_remove', t);
    END LOOP;
END $$;
CREATE OR REPLACE TRIGGER file_metadata_usage_resize AFTER UPDATE ON file_metadata
    REFERENCING OLD TABLE AS fsa_old NEW TABLE AS fsa_new
    FOR EACH STATEMENT EXECUTE FUNCTION fsa_usage_resize();

-- What the tenants already hold. The triggers above and this count run in the
-- migration's transaction, which holds each table against writes from the
-- CREATE TRIGGER on, so no write falls between the count and the triggers.
INSERT INTO tenant_usage (tenant_id, resource, used)
SELECT tenant_id, resource, used FROM (
    SELECT tenant_id, 'users' AS resource, count(*) AS used FROM users GROUP BY tenant_id
    UNION ALL SELECT tenant_id, 'clients', count(*) FROM clients GROUP BY tenant_id
    UNION ALL SELECT tenant_id, 'personnel', count(*) FROM personnel GROUP BY tenant_id
    UNION ALL SELECT tenant_id, 'work_orders', count(*) FROM work_orders GROUP BY tenant_id
    UNION ALL SELECT tenant_id, 'file_bytes', sum(size_bytes) FROM file_metadata GROUP BY tenant_id
) counted WHERE used <> 0
ON CONFLICT (tenant_id, resource) DO UPDATE SET used = excluded.used;
