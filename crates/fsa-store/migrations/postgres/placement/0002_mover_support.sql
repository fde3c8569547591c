-- A tenant's rows removed by the mover (cleanup after a move, a cleared
-- target) need no tombstones: nothing will copy them again. The mover says so
-- with the transaction setting `fsa.purge`; every other delete leaves one.
CREATE OR REPLACE FUNCTION fsa_tombstone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('fsa.purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    INSERT INTO tombstones (tenant_id, row_version, table_name, row_id)
    VALUES (OLD.tenant_id, nextval('fsa_row_version'), TG_TABLE_NAME, OLD.id);
    RETURN OLD;
END $$;

-- Secondary indexes the mover dropped for a bulk load into a new database,
-- kept here until it has built them again (a crash in between loses none).
CREATE TABLE fsa_deferred_indexes (
    name       text PRIMARY KEY,
    definition text NOT NULL
);
