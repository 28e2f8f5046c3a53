DROP TRIGGER members_deleted;
DROP TRIGGER members_updated;
DROP TRIGGER comments_deleted;
DROP TRIGGER comments_updated;
DROP TRIGGER comments_inserted;
DROP TABLE change_counters;
