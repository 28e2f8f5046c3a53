//! The conformance suite: the site's HTTP contract, run against every session engine with
//! both serializers on both databases, as Django's session tests run one mixin against every
//! backend. A test is written once, in its area's file, inside `conformance! { ... }`:
//!
//! ```ignore
//! conformance! {
//!     async fn a_first_comment_is_stored(flavor) {
//!         let app = flavor.spawn_app().await;
//!         ...
//!     }
//! }
//! ```
//!
//! and runs as one test per flavor, named `<area>::<flavor>::<test>`. Only what goes through
//! the session middleware belongs here; the rest is written as plain tests.

use std::future::Future;

use super::Flavor;

/// Runs `test` under `flavor` when the services the flavor needs answer; otherwise says why it
/// is skipped (or fails, under CI).
pub async fn run_under<F: Future<Output = ()>>(
    flavor: Flavor,
    name: &str,
    test: impl FnOnce(Flavor) -> F,
) {
    if flavor.services_available(name) {
        test(flavor).await;
    }
}

/// Declares conformance tests; see the module documentation.
macro_rules! conformance {
    ($(
        $(#[$attr:meta])*
        async fn $name:ident($flavor:ident) $body:block
    )*) => {
        $(
            $(#[$attr])*
            async fn $name($flavor: $crate::helpers::Flavor) $body
        )*
        conformance!(@flavors [$($name)*]
            // On SQLite (a fresh file per test)...
            db_json Sqlite Db Json,
            db_msgpack Sqlite Db MessagePack,
            cache_memory_json Sqlite CacheMemory Json,
            cache_memory_msgpack Sqlite CacheMemory MessagePack,
            cache_redis_json Sqlite CacheRedis Json,
            cache_redis_msgpack Sqlite CacheRedis MessagePack,
            cached_db_memory_json Sqlite CachedDbMemory Json,
            cached_db_memory_msgpack Sqlite CachedDbMemory MessagePack,
            cached_db_redis_json Sqlite CachedDbRedis Json,
            cached_db_redis_msgpack Sqlite CachedDbRedis MessagePack,
            file_json Sqlite File Json,
            file_msgpack Sqlite File MessagePack,
            signed_cookies_json Sqlite SignedCookies Json,
            signed_cookies_msgpack Sqlite SignedCookies MessagePack,
            // ...and on PostgreSQL (a fresh database per test, from TEST_DATABASE_URL).
            pg_db_json Postgres Db Json,
            pg_db_msgpack Postgres Db MessagePack,
            pg_cache_memory_json Postgres CacheMemory Json,
            pg_cache_memory_msgpack Postgres CacheMemory MessagePack,
            pg_cache_redis_json Postgres CacheRedis Json,
            pg_cache_redis_msgpack Postgres CacheRedis MessagePack,
            pg_cached_db_memory_json Postgres CachedDbMemory Json,
            pg_cached_db_memory_msgpack Postgres CachedDbMemory MessagePack,
            pg_cached_db_redis_json Postgres CachedDbRedis Json,
            pg_cached_db_redis_msgpack Postgres CachedDbRedis MessagePack,
            pg_file_json Postgres File Json,
            pg_file_msgpack Postgres File MessagePack,
            pg_signed_cookies_json Postgres SignedCookies Json,
            pg_signed_cookies_msgpack Postgres SignedCookies MessagePack,
        );
    };
    (@flavors [$($name:ident)*]
        $module:ident $database:ident $engine:ident $serializer:ident, $($rest:tt)*
    ) => {
        mod $module {
            const FLAVOR: $crate::helpers::Flavor = $crate::helpers::Flavor {
                engine: $crate::helpers::Engine::$engine,
                serializer: guestbook::settings::SessionSerializer::$serializer,
                database: $crate::helpers::TestDatabase::$database,
            };
            $(
                #[actix_web::test]
                async fn $name() {
                    $crate::helpers::run_under(FLAVOR, stringify!($name), super::$name).await;
                }
            )*
        }
        conformance!(@flavors [$($name)*] $($rest)*);
    };
    (@flavors [$($name:ident)*]) => {};
}
