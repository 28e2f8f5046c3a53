-- Beside a Django site (DJANGO_COMPAT), sessions live in Django's own `django_session`, which
-- has no user column: this is the index from user to sessions ("your sessions") for the
-- sessions this site writes there. Unused otherwise.
CREATE TABLE session_user_index (
    session_key TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL
);
CREATE INDEX session_user_index_user_id ON session_user_index (user_id);
