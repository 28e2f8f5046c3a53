DROP TRIGGER comments_inserted ON comments;
DROP TRIGGER comments_updated ON comments;
DROP TRIGGER comments_deleted ON comments;
DROP TRIGGER members_updated ON members;
DROP TRIGGER members_deleted ON members;
DROP FUNCTION bump_change_counter();
CREATE FUNCTION bump_change_counter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE change_counters SET version = version + 1 WHERE name = TG_TABLE_NAME;
    RETURN NULL;
END;
$$;
CREATE TRIGGER comments_changed AFTER INSERT OR UPDATE OR DELETE ON comments
    FOR EACH STATEMENT EXECUTE FUNCTION bump_change_counter();
CREATE TRIGGER members_changed AFTER UPDATE OR DELETE ON members
    FOR EACH STATEMENT EXECUTE FUNCTION bump_change_counter();

DROP INDEX comments_shown;
ALTER TABLE comments DROP COLUMN deleted_at;
ALTER TABLE comments DROP COLUMN hidden_at;
ALTER TABLE comments DROP COLUMN edited_at;
ALTER TABLE members DROP COLUMN is_staff;
