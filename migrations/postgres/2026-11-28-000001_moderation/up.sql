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

-- The change counters move only when rows did. A statement-level trigger also fires for an
-- UPDATE that matches no row (a stranger's refused delete, hiding a hidden comment, a password
-- change that lost its race), and anyone could then empty every instance's kept copies at
-- will. Transition tables say whether the statement changed anything; a trigger with one can
-- have only one event, so there is one per event.
DROP TRIGGER comments_changed ON comments;
DROP TRIGGER members_changed ON members;
DROP FUNCTION bump_change_counter();
CREATE FUNCTION bump_change_counter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed) THEN
        UPDATE change_counters SET version = version + 1 WHERE name = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER comments_inserted AFTER INSERT ON comments
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_change_counter();
CREATE TRIGGER comments_updated AFTER UPDATE ON comments
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_change_counter();
CREATE TRIGGER comments_deleted AFTER DELETE ON comments
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_change_counter();
CREATE TRIGGER members_updated AFTER UPDATE ON members
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_change_counter();
CREATE TRIGGER members_deleted AFTER DELETE ON members
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION bump_change_counter();
