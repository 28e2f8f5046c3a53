DROP TABLE session_user_index;
