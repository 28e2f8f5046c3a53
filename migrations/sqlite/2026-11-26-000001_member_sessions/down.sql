DROP INDEX sessions_member_id;
ALTER TABLE sessions DROP COLUMN member_id;
ALTER TABLE comments DROP COLUMN by_former_member;
ALTER TABLE members DROP COLUMN carried_session_hash;
ALTER TABLE members DROP COLUMN session_generation;
