-- The client name search index starts with tenant_id, as every other index
-- does, so one tenant's search reads only its own entries of the index and
-- never scans its neighbours' matches in a shared or pooled database.
-- btree_gin lets a GIN index hold the uuid column beside the tsvector; it is
-- a trusted extension (PostgreSQL 13 and later), so the database's owner
-- may create it without being superuser.
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE INDEX clients_tenant_name_search_idx ON clients USING gin (tenant_id, name_search);
DROP INDEX clients_name_search_idx;
