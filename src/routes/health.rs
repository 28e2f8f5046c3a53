//! Whether this instance can serve, for load balancers and monitors: `/livez` (the process
//! answers) and `/readyz` (what it depends on answers; `/healthz` is the same). Each answers
//! within [`CHECK_LIMIT`], and the public body names only the dependency that failed: the
//! reason is logged. A cache the site works without for a while (`cached_db`'s, the
//! throttles') makes the answer `200 degraded: cache unavailable`, not a `503`: taking the
//! instance out of the load balancer would not bring the cache back.

use std::time::Duration;

use actix_session_engines::caches::Cache;
use actix_web::{HttpResponse, http::StatusCode, web};

use crate::db::Database;

/// The longest a readiness check waits for a dependency.
pub const CHECK_LIMIT: Duration = Duration::from_secs(1);

/// What readiness checks: the database and each cache the site uses.
pub struct Readiness {
    db: Database,
    /// Caches without which the site cannot serve (the `cache` session engine's).
    required: Vec<Cache>,
    /// Caches the site works without, degraded, while they are down.
    optional: Vec<Cache>,
}

impl Readiness {
    pub fn new(db: Database, required: Vec<Cache>, optional: Vec<Cache>) -> Self {
        Self {
            db,
            required,
            optional,
        }
    }
}

/// `200 ok` while the process answers requests.
pub async fn livez() -> HttpResponse {
    plain(StatusCode::OK, "ok")
}

/// `200 ok` when the database and every cache answer; `200 degraded: cache unavailable` when
/// only a cache the site works without does not; `503` naming the database or the required
/// cache otherwise.
pub async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    let db = actix_web::rt::time::timeout(CHECK_LIMIT, readiness.db.ping()).await;
    if let Some(reason) = failure(db.map(|r| r.map_err(|e| e.to_string()))) {
        tracing::error!(reason = %reason, "not ready: database");
        return plain(StatusCode::SERVICE_UNAVAILABLE, "database unavailable");
    }
    for cache in &readiness.required {
        if let Some(reason) = cache_failure(cache).await {
            tracing::error!(reason = %reason, "not ready: cache");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "cache unavailable");
        }
    }
    for cache in &readiness.optional {
        if let Some(reason) = cache_failure(cache).await {
            tracing::warn!(reason = %reason, "ready, degraded: cache");
            return plain(StatusCode::OK, "degraded: cache unavailable");
        }
    }
    plain(StatusCode::OK, "ok")
}

async fn cache_failure(cache: &Cache) -> Option<String> {
    let answered = actix_web::rt::time::timeout(CHECK_LIMIT, cache.ping()).await;
    failure(answered.map(|r| r.map_err(|e| e.to_string())))
}

/// Why a check failed: its error, or that it ran out of time.
fn failure<E>(answered: Result<Result<(), String>, E>) -> Option<String> {
    match answered {
        Ok(Ok(())) => None,
        Ok(Err(reason)) => Some(reason),
        Err(_) => Some(format!("no answer within {CHECK_LIMIT:?}")),
    }
}

fn plain(status: StatusCode, body: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(body)
}
