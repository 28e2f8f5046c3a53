-- Beside a Django site (DJANGO_COMPAT), `members` holds a mirror of each Django user who logs
-- in or posts here, under the Django user's id. The mark tells those rows from members of this
-- site's own, whose ids Django's users would take over: such a database is refused.
ALTER TABLE members ADD COLUMN mirrors_django_user BOOLEAN NOT NULL DEFAULT FALSE;
