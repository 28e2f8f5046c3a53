DROP TRIGGER members_changed ON members;
DROP TRIGGER comments_changed ON comments;
DROP FUNCTION bump_change_counter();
DROP TABLE change_counters;
