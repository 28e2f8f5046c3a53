ALTER TABLE members DROP COLUMN mirrors_django_user;
