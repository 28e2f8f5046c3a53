//! The conformance suite: the site's whole HTTP contract, run against every session engine
//! with both serializers, as Django's session tests run one mixin against every backend.
//! Each test is written once (in the area's file) and instantiated here per flavor.

/// One `#[actix_web::test]` per listed test, running it under `$flavor`.
macro_rules! conformance_tests {
    ($flavor:expr; $($module:ident :: $test:ident,)*) => {
        $(
            #[actix_web::test]
            async fn $test() {
                crate::helpers::with_flavor($flavor, concat!(stringify!($module), "::", stringify!($test)), crate::$module::$test()).await;
            }
        )*
    };
}

/// The whole suite under one flavor.
macro_rules! conformance_suite {
    ($name:ident, $database:ident, $engine:ident, $serializer:ident) => {
        mod $name {
            use crate::helpers::{Engine, Flavor, TestDatabase};
            use guestbook::settings::SerializerKind;

            const FLAVOR: Flavor = Flavor {
                engine: Engine::$engine,
                serializer: SerializerKind::$serializer,
                database: TestDatabase::$database,
            };

            conformance_tests! {
                FLAVOR;
            home::the_home_page_lists_comments_newest_first_with_author_and_time,
            home::a_visitor_who_only_reads_pages_stores_no_session,
            home::comments_are_paged_twenty_at_a_time,
            home::a_page_number_that_is_not_a_number_is_a_400_page,
            home::every_page_with_a_form_carries_the_csrf_token_in_the_form_and_a_meta_tag,
            home::static_files_are_served_with_caching_headers,
            home::healthz_answers_ok_when_the_database_answers,
            comments::a_first_comment_is_stored_and_thanked_once,
            comments::a_second_comment_is_refused_with_409_and_not_stored,
            comments::a_visitor_who_has_commented_gets_409_whatever_the_body,
            comments::an_empty_or_missing_comment_is_a_422_and_leaves_the_visitor_free_to_comment,
            comments::a_comment_over_2000_characters_is_a_422_that_keeps_the_text,
            comments::exactly_2000_characters_are_accepted,
            comments::comments_are_trimmed_and_line_breaks_normalised,
            comments::comments_are_html_escaped,
            comments::a_members_comment_is_attributed_to_them,
            comments::json_clients_get_201_409_and_422_with_no_flash_message,
            comments::concurrent_posts_of_one_session_store_exactly_one_comment,
            auth::signing_up_creates_the_member_and_logs_them_in,
            auth::sign_up_refuses_bad_usernames_short_passwords_and_taken_names_with_422,
            auth::logging_in_rotates_the_session_key_and_keeps_the_sessions_data,
            auth::usernames_match_case_insensitively_at_login,
            auth::a_wrong_password_and_an_unknown_username_both_get_401_after_one_verification_each,
            auth::logging_out_removes_the_member_rotates_the_key_and_keeps_has_commented,
            auth::logging_out_a_session_with_nothing_else_in_it_ends_the_session,
            auth::logging_out_when_nobody_is_logged_in_is_harmless,
            auth::a_different_member_logging_in_does_not_inherit_the_previous_ones_session,
            auth::json_clients_get_200_201_and_401_with_messages_and_no_flash,
            auth::the_csrf_token_rotates_at_login,
            security::a_post_without_a_valid_csrf_token_is_a_403_and_changes_nothing,
            security::login_logout_and_signup_refuse_a_missing_csrf_token,
            security::the_token_may_come_in_the_x_csrf_token_header_and_from_the_meta_tag,
            security::json_clients_get_403_as_json,
            security::a_post_from_another_origin_is_refused,
            security::a_tampered_session_cookie_is_a_fresh_anonymous_session,
            security::a_validly_signed_but_unknown_session_key_is_a_fresh_anonymous_session,
            security::session_and_csrf_cookies_carry_the_safe_attributes,
            security::pages_send_protective_headers,
            errors::unknown_pages_are_a_styled_404_or_json_404,
            errors::a_wrong_method_is_a_styled_405,
            errors::a_body_too_large_is_a_413_before_the_csrf_check,
            errors::a_body_that_is_not_a_form_is_a_400_that_says_so,
            errors::a_server_error_is_a_styled_500_and_leaves_the_session_unstored,
            errors::healthz_is_a_503_naming_the_database_when_it_fails,
            sessions::a_session_lives_as_long_as_session_cookie_age,
            sessions::the_configured_engine_and_serializer_are_the_ones_in_use,
            sessions::expire_at_browser_close_sends_a_cookie_without_max_age,
            sessions::cookie_settings_name_path_domain_and_samesite_apply,
            }
        }
    };
}

// On SQLite (a fresh file per test)...
conformance_suite!(db_json, Sqlite, Db, Json);
conformance_suite!(db_msgpack, Sqlite, Db, MessagePack);
conformance_suite!(cache_memory_json, Sqlite, CacheMemory, Json);
conformance_suite!(cache_memory_msgpack, Sqlite, CacheMemory, MessagePack);
conformance_suite!(cache_redis_json, Sqlite, CacheRedis, Json);
conformance_suite!(cache_redis_msgpack, Sqlite, CacheRedis, MessagePack);
conformance_suite!(cached_db_memory_json, Sqlite, CachedDbMemory, Json);
conformance_suite!(
    cached_db_memory_msgpack,
    Sqlite,
    CachedDbMemory,
    MessagePack
);
conformance_suite!(cached_db_redis_json, Sqlite, CachedDbRedis, Json);
conformance_suite!(cached_db_redis_msgpack, Sqlite, CachedDbRedis, MessagePack);
conformance_suite!(file_json, Sqlite, File, Json);
conformance_suite!(file_msgpack, Sqlite, File, MessagePack);
conformance_suite!(signed_cookies_json, Sqlite, SignedCookies, Json);
conformance_suite!(signed_cookies_msgpack, Sqlite, SignedCookies, MessagePack);
// ...and on PostgreSQL (a fresh database per test, from TEST_DATABASE_URL).
conformance_suite!(pg_db_json, Postgres, Db, Json);
conformance_suite!(pg_db_msgpack, Postgres, Db, MessagePack);
conformance_suite!(pg_cache_memory_json, Postgres, CacheMemory, Json);
conformance_suite!(pg_cache_memory_msgpack, Postgres, CacheMemory, MessagePack);
conformance_suite!(pg_cache_redis_json, Postgres, CacheRedis, Json);
conformance_suite!(pg_cache_redis_msgpack, Postgres, CacheRedis, MessagePack);
conformance_suite!(pg_cached_db_memory_json, Postgres, CachedDbMemory, Json);
conformance_suite!(
    pg_cached_db_memory_msgpack,
    Postgres,
    CachedDbMemory,
    MessagePack
);
conformance_suite!(pg_cached_db_redis_json, Postgres, CachedDbRedis, Json);
conformance_suite!(
    pg_cached_db_redis_msgpack,
    Postgres,
    CachedDbRedis,
    MessagePack
);
conformance_suite!(pg_file_json, Postgres, File, Json);
conformance_suite!(pg_file_msgpack, Postgres, File, MessagePack);
conformance_suite!(pg_signed_cookies_json, Postgres, SignedCookies, Json);
conformance_suite!(
    pg_signed_cookies_msgpack,
    Postgres,
    SignedCookies,
    MessagePack
);
