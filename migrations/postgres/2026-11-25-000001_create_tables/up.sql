CREATE TABLE members (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username TEXT NOT NULL,
    -- argon2id PHC string: $argon2id$v=19$m=...,t=...,p=...$salt$hash
    password_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
-- Usernames are ASCII and unique whatever their case.
CREATE UNIQUE INDEX members_username_lower ON members (lower(username));

CREATE TABLE comments (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    body TEXT NOT NULL,
    member_id BIGINT REFERENCES members (id) ON DELETE SET NULL,
    -- The session's stable visitor id: one comment per visitor, enforced here so two
    -- concurrent requests of one session (on any instance) cannot both pass the check.
    visitor_id TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);

-- The database session engine (Django's django_session).
CREATE TABLE sessions (
    session_key TEXT PRIMARY KEY,
    session_data BYTEA NOT NULL,
    expire_date TIMESTAMP NOT NULL
);
CREATE INDEX sessions_expire_date ON sessions (expire_date);
