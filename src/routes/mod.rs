//! Every route in one place, and the small helpers handlers answer with.

mod auth;
mod comments;
mod health;
mod home;

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};

pub use self::health::healthz;
use crate::error::{FinalBody, wants_json};

/// The pages that use the session (wrapped in the session middleware by `startup`).
pub fn configure_pages(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").route(web::get().to(home::show_home)))
        .service(web::resource("/comments").route(web::post().to(comments::post_comment)))
        .service(
            web::resource("/login")
                .route(web::get().to(auth::login_page))
                .route(web::post().to(auth::log_in)),
        )
        .service(web::resource("/logout").route(web::post().to(auth::log_out)))
        .service(
            web::resource("/signup")
                .route(web::get().to(auth::signup_page))
                .route(web::post().to(auth::sign_up)),
        );
}

/// A finished HTML page with `status`.
pub fn html(status: StatusCode, body: String) -> HttpResponse {
    let mut response = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body);
    response.extensions_mut().insert(FinalBody);
    response
}

/// `{"message": text}` with `status`: what a JSON client gets where a browser gets a page.
pub fn json_message(status: StatusCode, text: &str) -> HttpResponse {
    json_body(status, serde_json::json!({ "message": text }))
}

/// `{"error": text}` with `status`: a refusal, for a JSON client.
pub fn json_error(status: StatusCode, text: &str) -> HttpResponse {
    json_body(status, serde_json::json!({ "error": text }))
}

fn json_body(status: StatusCode, value: serde_json::Value) -> HttpResponse {
    let mut response = HttpResponse::build(status)
        .content_type("application/json")
        .body(value.to_string());
    response.extensions_mut().insert(FinalBody);
    response
}

/// `303 See Other` to `location`: the answer to a successful form post.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// How a handler answers: JSON for clients that asked for it, pages and redirects otherwise.
#[derive(Clone, Copy)]
pub struct Reply {
    json: bool,
}

impl Reply {
    pub fn to(req: &HttpRequest) -> Self {
        Self {
            json: wants_json(req),
        }
    }

    pub fn is_json(self) -> bool {
        self.json
    }
}
