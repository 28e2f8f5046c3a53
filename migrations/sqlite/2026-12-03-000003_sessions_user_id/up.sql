-- The session framework is a library of its own (crates/actix-session-engines) and knows
-- users, not members: the index column of its table takes its name. Same values, same index.
ALTER TABLE sessions RENAME COLUMN member_id TO user_id;
DROP INDEX sessions_member_id;
CREATE INDEX sessions_user_id ON sessions (user_id);
