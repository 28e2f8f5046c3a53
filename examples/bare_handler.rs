//! The ceiling `scripts/bench.sh` measures the application against: actix-web answering
//! `GET /` with a fixed HTML body as large as the real home page, and nothing else (no
//! database, sessions, cookies, middleware or templates). It runs actix's default number of
//! workers, one per core, as the application does.
//!
//! Run: `cargo run --release --example bare_handler -- ADDR BODY_BYTES`

use actix_web::{App, HttpResponse, HttpServer, web};

/// A page of `len` bytes that compresses and renders like HTML (not one repeated byte).
fn page_of(len: usize) -> String {
    let head = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Guestbook</title></head><body>\n";
    let tail = "</body></html>\n";
    let mut page = String::with_capacity(len.max(head.len() + tail.len()));
    page.push_str(head);
    let mut n = 0;
    while page.len() + tail.len() < len {
        n += 1;
        page.push_str(&format!(
            "<article><p>Comment {n}: a sentence or two about the visit.</p></article>\n"
        ));
    }
    page.truncate(len.saturating_sub(tail.len()).max(head.len()));
    page.push_str(tail);
    page
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let usage = "usage: bare_handler ADDR BODY_BYTES";
    let mut args = std::env::args().skip(1);
    let addr = args.next().expect(usage);
    let len: usize = args.next().and_then(|n| n.parse().ok()).expect(usage);
    let body = web::Bytes::from(page_of(len));
    HttpServer::new(move || {
        let body = body.clone();
        App::new().route(
            "/",
            web::get().to(move || {
                let body = body.clone();
                async move {
                    HttpResponse::Ok()
                        .content_type("text/html; charset=utf-8")
                        .body(body)
                }
            }),
        )
    })
    .bind(addr)?
    .run()
    .await
}
