DROP INDEX comments_shown;
ALTER TABLE comments DROP COLUMN deleted_at;
ALTER TABLE comments DROP COLUMN hidden_at;
ALTER TABLE comments DROP COLUMN edited_at;
ALTER TABLE members DROP COLUMN is_staff;
