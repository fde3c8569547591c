-- The process driving a move holds a lease on it, renewed while it runs: a
-- second process neither resumes nor writes a move another one is running,
-- and takes over one whose owner died (its lease ran out, or its process is
-- gone from the same host).
ALTER TABLE moves ADD COLUMN owner TEXT;
ALTER TABLE moves ADD COLUMN lease_until_ms BIGINT NOT NULL DEFAULT 0;
