-- The service's login owns the placement databases and their tables, and is
-- not a superuser (`fsa db bootstrap` makes it). Its own connections are the
-- maintenance ones, which must see every tenant's rows: a move's copy and
-- checks, fleet analytics, migrations. FORCE ROW LEVEL SECURITY (0001) bound
-- the owner too, which only a superuser login never noticed (a superuser
-- bypasses row-level security). Against the owner, who may lift FORCE at
-- will, it guarded against nothing but mistakes, and it hid every row from
-- maintenance.
--
-- Tenant sessions run as fsa_app, which owns nothing and is neither
-- superuser nor BYPASSRLS: the policies still bind every one of them.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenant_state', 'users', 'clients', 'personnel', 'work_orders', 'tasks', 'file_metadata', 'tombstones'] LOOP
        EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
    END LOOP;
END $$;
