-- Change counters, bumped by the database itself on every change to a table (whoever makes
-- it: the site, the command line, plain SQL). Each instance keeps what it read from the table
-- (the rendered comment list, members' rows) in memory while the counter stands, and reads
-- the counters (one small shared query) for every request, so it never serves a stale copy.
-- The row lock orders the bumps as the writes commit.
CREATE TABLE change_counters (
    name TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO change_counters (name, version) VALUES ('comments', 0), ('members', 0);

CREATE FUNCTION bump_change_counter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE change_counters SET version = version + 1 WHERE name = TG_TABLE_NAME;
    RETURN NULL;
END;
$$;
CREATE TRIGGER comments_changed AFTER INSERT OR UPDATE OR DELETE ON comments
    FOR EACH STATEMENT EXECUTE FUNCTION bump_change_counter();
-- A new member changes no copy anyone holds; an update (password, session generation) or a
-- deletion does.
CREATE TRIGGER members_changed AFTER UPDATE OR DELETE ON members
    FOR EACH STATEMENT EXECUTE FUNCTION bump_change_counter();
