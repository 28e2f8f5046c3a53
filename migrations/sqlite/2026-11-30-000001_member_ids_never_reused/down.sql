-- `members` as it was: ids without AUTOINCREMENT (see up.sql).
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE members_rebuilt (
    id INTEGER PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
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

CREATE UNIQUE INDEX members_username_lower ON members (lower(username));
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
