//! `GET /healthz`: whether this instance can serve, for load balancers and monitors.

use actix_web::{HttpResponse, http::StatusCode, web};

use crate::db::Database;

/// `200 ok` when the database answers; `503` naming what failed otherwise.
pub async fn healthz(db: web::Data<Database>) -> HttpResponse {
    let (status, body) = match db.ping().await {
        Ok(()) => (StatusCode::OK, "ok".to_owned()),
        Err(err) => {
            tracing::error!(error = %err, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, format!("database: {err}"))
        }
    };
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(body)
}
