//! Whether this instance can serve, for load balancers and monitors: `/livez` (the process
//! answers) and `/readyz` (what it depends on answers; `/healthz` is the same). Each answers
//! within [`CHECK_LIMIT`], and the public body names only the dependency that failed: the
//! reason is logged.

use std::time::Duration;

use actix_web::{HttpResponse, http::StatusCode, web};

use crate::{cache::Cache, db::Database};

/// The longest a readiness check waits for a dependency.
pub const CHECK_LIMIT: Duration = Duration::from_secs(1);

/// What readiness checks: the database and each Redis the site uses.
pub struct Readiness {
    db: Database,
    caches: Vec<Cache>,
}

impl Readiness {
    pub fn new(db: Database, caches: Vec<Cache>) -> Self {
        Self { db, caches }
    }
}

/// `200 ok` while the process answers requests.
pub async fn livez() -> HttpResponse {
    plain(StatusCode::OK, "ok")
}

/// `200 ok` when the database (and Redis, when configured) answer; `503` naming the one that
/// does not otherwise.
pub async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    let db = actix_web::rt::time::timeout(CHECK_LIMIT, readiness.db.ping()).await;
    if let Some(reason) = failure(db.map(|r| r.map_err(|e| e.to_string()))) {
        tracing::error!(reason = %reason, "not ready: database");
        return plain(StatusCode::SERVICE_UNAVAILABLE, "database unavailable");
    }
    for cache in &readiness.caches {
        let answered = actix_web::rt::time::timeout(CHECK_LIMIT, cache.ping()).await;
        if let Some(reason) = failure(answered.map(|r| r.map_err(|e| e.to_string()))) {
            tracing::error!(reason = %reason, "not ready: cache");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "cache unavailable");
        }
    }
    plain(StatusCode::OK, "ok")
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
