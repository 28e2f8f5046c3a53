ALTER TABLE sessions RENAME COLUMN user_id TO member_id;
ALTER INDEX sessions_user_id RENAME TO sessions_member_id;
