-- PostgreSQL's 0007 lets the tables' owner past row-level security; SQLite
-- has none.
SELECT 1;
