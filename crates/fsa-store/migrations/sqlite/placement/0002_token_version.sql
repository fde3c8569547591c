-- A user's tokens carry the user's token_version; it is bumped when the
-- user is deactivated, changes role or gets a new password, which ends every
-- token issued before. The mover copies the column with the row.
ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;
