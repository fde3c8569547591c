-- From here on a schema version means the same on both engines: a migration
-- has the same number in the PostgreSQL and the SQLite folder (a no-op on
-- the engine that does not need it). SQLite's 0001 holds what PostgreSQL's
-- 0001-0004 hold, its 0002 is PostgreSQL's 0005, and PostgreSQL's 0006 (a
-- GIN index) has no SQLite counterpart, so this step brings SQLite to 6.
SELECT 1;
