ALTER TABLE sessions RENAME COLUMN user_id TO member_id;
DROP INDEX sessions_user_id;
CREATE INDEX sessions_member_id ON sessions (member_id);
