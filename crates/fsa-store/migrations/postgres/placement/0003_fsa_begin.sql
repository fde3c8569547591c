-- Opens a tenant transaction in the same round trip as its BEGIN. The
-- service sends `SELECT fsa_begin(...); BEGIN` as one simple query: the
-- SELECT runs in the implicit transaction block of that message, which the
-- BEGIN turns into the explicit transaction, so the tenant context, the
-- statement timeout and the write lock (all transaction-local) carry into it.
-- If the tenant is not active here the function raises, the implicit block
-- rolls back and the connection is left idle, outside any transaction.
--
-- It sets the row-level security context (fsa.tenant_id) and the statement
-- timeout, takes the tenant's write lock shared for a write (a move's fence
-- takes it exclusively), then checks the tenant's state row:
--   no row or `moving_in`  -> SQLSTATE FSA02 (the route is stale)
--   `moved_out`            -> SQLSTATE FSA01 (the tenant moved away)
CREATE FUNCTION fsa_begin(p_tenant uuid, p_write boolean, p_timeout_ms integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_state text;
BEGIN
    PERFORM set_config('fsa.tenant_id', p_tenant::text, true),
            set_config('statement_timeout', p_timeout_ms::text, true);
    IF p_write THEN
        PERFORM pg_advisory_xact_lock_shared(hashtextextended(p_tenant::text, 7));
    END IF;
    SELECT s.state INTO v_state FROM tenant_state s WHERE s.tenant_id = p_tenant;
    IF v_state IS NULL OR v_state = 'moving_in' THEN
        RAISE EXCEPTION 'tenant % is not in this placement', p_tenant USING ERRCODE = 'FSA02';
    ELSIF v_state <> 'active' THEN
        RAISE EXCEPTION 'tenant % moved out of this placement', p_tenant USING ERRCODE = 'FSA01';
    END IF;
END $$;
