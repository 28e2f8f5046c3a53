// @generated-style by `diesel print-schema`, kept in step with migrations/.

diesel::table! {
    comments (id) {
        id -> BigInt,
        body -> Text,
        member_id -> Nullable<BigInt>,
        visitor_id -> Text,
        created_at -> Timestamp,
        by_former_member -> Bool,
        edited_at -> Nullable<Timestamp>,
        hidden_at -> Nullable<Timestamp>,
        deleted_at -> Nullable<Timestamp>,
        predates_one_per_member -> Bool,
    }
}

diesel::table! {
    members (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
        session_generation -> BigInt,
        carried_session_hash -> Nullable<Text>,
        is_staff -> Bool,
        /// A Django user's mirror (`DJANGO_COMPAT`; see `db::django_users`).
        mirrors_django_user -> Bool,
    }
}

diesel::table! {
    sessions (session_key) {
        session_key -> Text,
        session_data -> Binary,
        expire_date -> Timestamp,
        user_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// A counter per table (`comments`, `members`), bumped by triggers on every change.
    change_counters (name) {
        name -> Text,
        version -> BigInt,
    }
}

diesel::table! {
    /// Background work claimed by one instance at a time: when each last started.
    scheduled_runs (name) {
        name -> Text,
        started_at -> BigInt,
    }
}

diesel::joinable!(comments -> members (member_id));

diesel::allow_tables_to_appear_in_same_query!(
    change_counters,
    comments,
    members,
    scheduled_runs,
    sessions
);
