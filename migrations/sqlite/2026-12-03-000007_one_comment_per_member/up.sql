-- One comment per member, whichever browser or device they post from, decided by the database
-- as "one per visitor" is (the unique visitor id): a second comment by the same member breaks
-- this unique index, however the requests race.
--
-- Members who posted more than one comment before this rule keep them all: the later ones are
-- marked as predating it and left out of the index.
ALTER TABLE comments ADD COLUMN predates_one_per_member BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE comments SET predates_one_per_member = TRUE
WHERE member_id IS NOT NULL
  AND id > (SELECT MIN(first.id) FROM comments AS first WHERE first.member_id = comments.member_id);
CREATE UNIQUE INDEX comments_one_per_member ON comments (member_id)
WHERE member_id IS NOT NULL AND NOT predates_one_per_member;
