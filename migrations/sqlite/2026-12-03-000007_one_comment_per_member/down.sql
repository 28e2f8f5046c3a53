DROP INDEX comments_one_per_member;
ALTER TABLE comments DROP COLUMN predates_one_per_member;
