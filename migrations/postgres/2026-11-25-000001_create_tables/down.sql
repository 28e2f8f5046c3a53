DROP TABLE sessions;
DROP TABLE comments;
DROP TABLE members;
