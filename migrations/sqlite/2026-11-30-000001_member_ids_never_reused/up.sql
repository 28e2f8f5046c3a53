-- Member ids are never given twice. Without AUTOINCREMENT SQLite gives a new row the highest
-- id in the table plus one, so after the newest member deleted their account the next sign-up
-- got their id. SQLite cannot add AUTOINCREMENT to a table: this rebuilds `members` as its
-- manual says (https://sqlite.org/lang_altertable.html#otheralter), keeping every row and id,
-- the unique index and the change-counter triggers. Foreign keys are off meanwhile, or
-- dropping the old table would first set every comment's `member_id` to NULL. Ids freed before
-- this migration ran (the newest member deleted earlier) may be given once more; from here on
-- none is. (PostgreSQL's ids are an identity column, whose sequence never gives a value twice.)
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE members_rebuilt (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    username TEXT NOT NULL,
    -- argon2id PHC string: $argon2id$v=19$m=...,t=...,p=...$salt$hash
    password_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    session_generation BIGINT NOT NULL DEFAULT 0,
    carried_session_hash TEXT,
    is_staff BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO members_rebuilt
    (id, username, password_hash, created_at, session_generation, carried_session_hash, is_staff)
    SELECT id, username, password_hash, created_at, session_generation, carried_session_hash,
        is_staff
    FROM members;
DROP TABLE members;
ALTER TABLE members_rebuilt RENAME TO members;

-- Usernames are ASCII and unique whatever their case.
CREATE UNIQUE INDEX members_username_lower ON members (lower(username));
-- A new member changes no copy anyone holds (the copies keep no absences); an update
-- (password, session generation) or a deletion does.
CREATE TRIGGER members_updated AFTER UPDATE ON members
BEGIN
    UPDATE change_counters SET version = version + 1 WHERE name = 'members';
END;
CREATE TRIGGER members_deleted AFTER DELETE ON members
BEGIN
    UPDATE change_counters SET version = version + 1 WHERE name = 'members';
END;

COMMIT;
PRAGMA foreign_keys = ON;
