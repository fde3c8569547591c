-- PostgreSQL's 0002 adds the function fsa_begin; SQLite has no functions and
-- needs nothing. This keeps the two engines' schema versions equal (a move
-- between engines checks them).
SELECT 1;
