-- Keeping the guestbook clean: authors edit and delete their own comment, staff hide any.

-- Staff members see every comment, hidden ones too, and may hide or show any of them.
ALTER TABLE members ADD COLUMN is_staff BOOLEAN NOT NULL DEFAULT FALSE;

-- Set when the author last changed the text: the page says "edited".
ALTER TABLE comments ADD COLUMN edited_at TIMESTAMP;
-- Set while a staff member keeps the comment from everyone else.
ALTER TABLE comments ADD COLUMN hidden_at TIMESTAMP;
-- A deleted comment stays as a row without its text (a tombstone), so its visitor id stays
-- taken: deleting your comment does not give you a second one, by the unique constraint.
ALTER TABLE comments ADD COLUMN deleted_at TIMESTAMP;

-- The pages everyone sees walk only the comments shown.
CREATE INDEX comments_shown ON comments (id) WHERE hidden_at IS NULL AND deleted_at IS NULL;
