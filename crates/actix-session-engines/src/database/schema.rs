//! The tables the framework itself uses (Diesel's description of them).

diesel::table! {
    /// The database engines' sessions (Django's `django_session`, with the index from user to
    /// sessions in the row itself).
    sessions (session_key) {
        /// The key the cookie carries.
        session_key -> Text,
        /// The serialized session.
        session_data -> Binary,
        /// When the session ends (UTC).
        expire_date -> Timestamp,
        /// The user logged in with the session, if any.
        user_id -> Nullable<BigInt>,
    }
}
