-- Reads without a transaction of their own.
--
-- A read request runs its statements on a pooled session whose tenant
-- context (fsa.tenant_id) and statement timeout are set at session level by
-- fsa_session, and kept while the session serves the same tenant: a read
-- of a tenant the session already serves is one statement, one round trip.
--
-- The tenant's state check moves into row-level security, so that every
-- statement makes it, not once per transaction: each tenant table's policy
-- compares tenant_id with fsa_tenant(), which returns the tenant in the
-- context only after checking that its state row here says `active`. Every
-- service query also filters tenant_id = $1, so PostgreSQL derives the
-- one-time filter fsa_tenant() = $1 from the two: the function runs once per
-- statement (an index probe of the state row), before anything is scanned,
-- and raises for a tenant that is not active here even when the statement
-- would have found no row — with the SQLSTATEs fsa_begin raises:
--   no row or `moving_in`  -> FSA02 (the route is stale)
--   `moved_out`            -> FSA01 (the tenant moved away)
-- No context at all still means no rows, as before.

CREATE FUNCTION fsa_tenant()
RETURNS uuid LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_tenant uuid := nullif(current_setting('fsa.tenant_id', true), '')::uuid;
    v_state text;
BEGIN
    IF v_tenant IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT s.state INTO v_state FROM tenant_state s WHERE s.tenant_id = v_tenant;
    IF v_state = 'active' THEN
        RETURN v_tenant;
    ELSIF v_state IS NULL OR v_state = 'moving_in' THEN
        RAISE EXCEPTION 'tenant % is not in this placement', v_tenant USING ERRCODE = 'FSA02';
    END IF;
    RAISE EXCEPTION 'tenant % moved out of this placement', v_tenant USING ERRCODE = 'FSA01';
END $$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'clients', 'personnel', 'work_orders', 'tasks', 'file_metadata', 'tombstones'] LOOP
        EXECUTE format('DROP POLICY tenant_isolation ON %I', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = fsa_tenant())
            WITH CHECK (tenant_id = nullif(current_setting('fsa.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;

-- Sets the session's tenant context and statement timeout (kept after the
-- statement, unlike fsa_begin's) and checks the tenant's state.
CREATE FUNCTION fsa_session(p_tenant uuid, p_timeout_ms integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('fsa.tenant_id', p_tenant::text, false),
            set_config('statement_timeout', p_timeout_ms::text, false);
    PERFORM fsa_tenant();
END $$;

-- Replaced by fsa_begin (0003) and fsa_session; nothing calls it.
DROP FUNCTION fsa_enter(uuid, boolean);
