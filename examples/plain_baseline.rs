//! The yardstick for the README's performance section: a plain actix-web `GET /` that reads
//! the session row and the 20 newest comments from SQLite by hand (one blocking call, no
//! session framework, no cookie signature, no CSRF cookie check) and renders the same
//! template. `scripts/bench.sh` serves it beside the real application on the same database,
//! so the difference between the two is what the session layer costs.
//!
//! Run: `cargo run --release --example plain_baseline -- DATABASE_PATH ADDR`

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use askama::Template;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use diesel::{Connection as _, prelude::*};
use guestbook::{
    db::{Database, DbError, comments, members, schema::sessions},
    settings::DatabaseSettings,
};

struct CommentView {
    body: String,
    author: String,
    posted_at: String,
    posted_at_iso: String,
}

/// Field for field what `templates/home.html` expects.
#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    csrf_token: String,
    username: Option<String>,
    comments: Vec<CommentView>,
    show_form: bool,
    commented: bool,
    sessions_enabled: bool,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    comment_error: Option<&'a str>,
    cookies_refused: bool,
    draft: &'a str,
    older_page: Option<u32>,
    newer_page: Option<u32>,
}

async fn home(req: HttpRequest, db: web::Data<Database>) -> HttpResponse {
    let key = req.cookie("sessionid").map(|c| c.value().to_owned());
    let loaded = db
        .read(move |conn| {
            conn.transaction(|conn| {
                let data: Option<Vec<u8>> = match key {
                    Some(key) => sessions::table
                        .find(key)
                        .select(sessions::session_data)
                        .get_result(conn)
                        .optional()?,
                    None => None,
                };
                let state: serde_json::Value = data
                    .and_then(|d| serde_json::from_slice(&d).ok())
                    .unwrap_or_default();
                let username = match state["member_id"].as_i64() {
                    Some(id) => members::username_of(conn, id)?,
                    None => None,
                };
                let rows = comments::newest_first(conn, 21, 0)?;
                Ok::<_, DbError>((state, username, rows))
            })
        })
        .await;
    let Ok((state, username, mut rows)) = loaded else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    let has_older = rows.len() > 20;
    rows.truncate(20);
    let page = HomePage {
        csrf_token: URL_SAFE_NO_PAD.encode(rand::random::<[u8; 64]>()),
        username,
        comments: rows
            .into_iter()
            .map(|row| CommentView {
                body: row.body,
                author: row.author.unwrap_or_else(|| "Anonymous".into()),
                posted_at: row.created_at.to_string(),
                posted_at_iso: row.created_at.to_string(),
            })
            .collect(),
        show_form: !state["has_commented"].as_bool().unwrap_or(false),
        commented: state["has_commented"].as_bool().unwrap_or(false),
        sessions_enabled: true,
        notice: None,
        error: None,
        comment_error: None,
        cookies_refused: false,
        draft: "",
        older_page: has_older.then_some(2),
        newer_page: None,
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page.render().unwrap())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: plain_baseline DATABASE_PATH ADDR");
    let addr = args
        .next()
        .expect("usage: plain_baseline DATABASE_PATH ADDR");
    let db = Database::connect(&DatabaseSettings {
        url: path,
        pool_size: 8,
        pool_timeout: std::time::Duration::from_secs(5),
        blocking_threads_per_worker: 1,
    })
    .expect("database opens");
    let db = web::Data::new(db);
    HttpServer::new(move || {
        App::new()
            .app_data(db.clone())
            .route("/", web::get().to(home))
    })
    .bind(addr)?
    .run()
    .await
}
