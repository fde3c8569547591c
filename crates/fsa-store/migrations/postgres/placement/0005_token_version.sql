-- A user's tokens carry the user's token_version; it is bumped when the
-- user is deactivated, changes role or gets a new password, which ends every
-- token issued before. A deleted user has no row, so no token of theirs
-- passes. The mover copies the column with the row, so a move revives no
-- token. fsa_app's table-wide grants cover the new column.
ALTER TABLE users ADD COLUMN token_version bigint NOT NULL DEFAULT 0;
