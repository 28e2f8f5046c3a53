-- Change counters, bumped by the database itself on every change to a table (whoever makes
-- it: the site, the command line, plain SQL). Each instance keeps what it read from the table
-- (the rendered comment list, members' rows) in memory while the counter stands, and reads
-- the counters (one small shared query) for every request, so it never serves a stale copy.
CREATE TABLE change_counters (
    name TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO change_counters (name, version) VALUES ('comments', 0), ('members', 0);

CREATE TRIGGER comments_inserted AFTER INSERT ON comments
BEGIN
    UPDATE change_counters SET version = version + 1 WHERE name = 'comments';
END;
CREATE TRIGGER comments_updated AFTER UPDATE ON comments
BEGIN
    UPDATE change_counters SET version = version + 1 WHERE name = 'comments';
END;
CREATE TRIGGER comments_deleted AFTER DELETE ON comments
BEGIN
    UPDATE change_counters SET version = version + 1 WHERE name = 'comments';
END;
-- A new member changes no copy anyone holds; an update (password, session generation) or a
-- deletion does.
CREATE TRIGGER members_updated AFTER UPDATE ON members
BEGIN
    UPDATE change_counters SET version = version + 1 WHERE name = 'members';
END;
CREATE TRIGGER members_deleted AFTER DELETE ON members
BEGIN
    UPDATE change_counters SET version = version + 1 WHERE name = 'members';
END;
