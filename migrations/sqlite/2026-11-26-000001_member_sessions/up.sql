-- Members control their sessions.

-- Bumped by every password change and every "log out everywhere": part of the hash each
-- logged-in session carries (`_auth_user_hash`), so every older session stops matching.
ALTER TABLE members ADD COLUMN session_generation BIGINT NOT NULL DEFAULT 0;
-- The session auth hash from before the last rehash of the password (new argon2 costs, same
-- password), still accepted so that an upgrade at login logs no other session out. Cleared
-- with every bump of session_generation.
ALTER TABLE members ADD COLUMN carried_session_hash TEXT;

-- A comment whose author deleted their account: shown as by "a former member".
ALTER TABLE comments ADD COLUMN by_former_member BOOLEAN NOT NULL DEFAULT FALSE;

-- The database engines' index from member to sessions: the session row itself says whose it
-- is, so key rotation, logout, expiry and clearsessions keep the index right by themselves.
ALTER TABLE sessions ADD COLUMN member_id BIGINT;
CREATE INDEX sessions_member_id ON sessions (member_id);
