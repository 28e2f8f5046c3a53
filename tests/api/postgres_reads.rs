//! PostgreSQL's pipelined read lane (the session framework's `database/pipeline.rs`): a
//! member's page reads its session and the change counters from the async workers; a
//! connection the server drops is replaced without a failed page; PostgreSQL going away is a
//! `503`, and the site comes back on its own when it returns.

use std::time::Duration;

use actix_web::http::StatusCode;
use diesel::{
    Connection as _, PgConnection, RunQueryDsl, connection::SimpleConnection, sql_types::Text,
};

use crate::helpers::{
    Browser, Flavor, PASSWORD, Page, TcpProxy, TestApp, postgres_available, postgres_url,
    random_string,
};

const LOGGED_IN: &str = "Logged in as <strong>ada</strong>";

#[actix_web::test]
async fn a_members_page_on_postgres_reads_its_session_and_the_counters_from_the_async_workers() {
    if !postgres_available(
        "a_members_page_on_postgres_reads_its_session_and_the_counters_from_the_async_workers",
    ) {
        return;
    }
    // Arrange
    let app = Flavor::POSTGRES.spawn_app().await;
    let mut ada = logged_in_member(&app).await;
    let before = app.state.db.pipelined_reads();

    // Act
    let page = ada.get("/").await;

    // Assert: the session was read on the lane, and so were the counters.
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(LOGGED_IN), "{}", page.body);
    let after = app.state.db.pipelined_reads();
    assert!(
        after >= before + 2,
        "the session and the counters are read on the pipelined lane ({before} -> {after})"
    );
}

#[actix_web::test]
async fn a_pipelined_connection_the_server_drops_is_replaced_and_no_page_fails() {
    if !postgres_available("a_pipelined_connection_the_server_drops_is_replaced_and_no_page_fails")
    {
        return;
    }
    // Arrange: the app's connections carry a name of their own; the lane is open.
    let name = format!("guestbook_lane_{}", random_string(12).to_lowercase());
    let app = Flavor::POSTGRES
        .spawn_app_with(|s| {
            s.database.url = with_param(&s.database.url, &format!("application_name={name}"))
        })
        .await;
    let mut ada = logged_in_member(&app).await;
    assert!(ada.get("/").await.body.contains(LOGGED_IN));

    // Act: the server ends the lane's connections (an idle timeout, a failover, an admin).
    let ended = end_pipelined_connections(&name);
    let right_after = ada.get("/").await;
    let reads = app.state.db.pipelined_reads();
    let later = ada.get("/").await;

    // Assert: no page failed, and the lane is back in use.
    assert!(ended >= 1, "the lane had a connection to end");
    for page in [&right_after, &later] {
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains(LOGGED_IN), "{}", page.body);
    }
    assert!(
        app.state.db.pipelined_reads() > reads,
        "a new pipelined connection took over"
    );
}

#[actix_web::test]
async fn postgres_going_away_is_a_503_and_the_site_comes_back_on_its_own() {
    if !postgres_available("postgres_going_away_is_a_503_and_the_site_comes_back_on_its_own") {
        return;
    }
    // Arrange: the app reaches PostgreSQL through a proxy the test can cut.
    let proxy = TcpProxy::start(server_address(&postgres_url().unwrap())).await;
    let through = proxy.addr().to_string();
    let app = Flavor::POSTGRES
        .spawn_app_with(|s| {
            s.database.url = via(&s.database.url, &through);
            s.database.pool_timeout = Duration::from_secs(1);
        })
        .await;
    let mut ada = logged_in_member(&app).await;
    assert!(ada.get("/").await.body.contains(LOGGED_IN));

    // Act: PostgreSQL goes away, then comes back.
    proxy.stop().await;
    let while_away = ada.get("/").await;
    proxy.start_again().await;
    // Each pooled connection the cut broke fails once before it is replaced: a few 503s
    // at most, then pages again.
    let mut back = None;
    for _ in 0..20 {
        let page = ada.get("/").await;
        if page.status == StatusCode::OK {
            back = Some(page);
            break;
        }
        assert_eq!(
            page.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            page.body
        );
    }

    // Assert
    assert_eq!(
        while_away.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        while_away.body
    );
    let back = back.expect("the site answers again once PostgreSQL is back");
    assert!(
        back.body.contains(LOGGED_IN),
        "the member is still logged in"
    );
    // The lane comes back too: at once, or after its one-second rest if a connect failed
    // while PostgreSQL was away; libpq serves the pages meanwhile.
    let reads = app.state.db.pipelined_reads();
    let give_up = std::time::Instant::now() + Duration::from_secs(10);
    while app.state.db.pipelined_reads() == reads {
        assert!(
            std::time::Instant::now() < give_up,
            "the lane never reconnected"
        );
        assert_eq!(ada.get("/").await.status, StatusCode::OK);
    }
    // And writes: a batch of writes may take a pooled connection the cut broke (a 503 for
    // that batch), which is then dropped; the pool holds at most eight.
    let mut posted = ada.comment("Back again").await;
    for _ in 0..8 {
        if posted.status != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        posted = ada.comment("Back again").await;
    }
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
    assert!(ada.get("/").await.body.contains("Back again"));
}

/// A PostgreSQL that answers nothing in time (a lock held, a server stalled) is a `503` once
/// `statement_timeout` (`DATABASE_POOL_TIMEOUT`) has passed, never a page
/// waiting without end; the site pages again once the stall ends.
#[actix_web::test]
async fn a_stalled_postgres_is_a_503_at_the_statement_timeout_and_the_site_pages_again() {
    if !postgres_available(
        "a_stalled_postgres_is_a_503_at_the_statement_timeout_and_the_site_pages_again",
    ) {
        return;
    }
    // Arrange: a transaction of the test's own will hold the tables.
    let app = Flavor::POSTGRES
        .spawn_app_with(|s| s.database.pool_timeout = Duration::from_secs(1))
        .await;
    let mut ada = logged_in_member(&app).await;
    let mut stall = PgConnection::establish(&app.state.settings.database.url).unwrap();
    let hold = |stall: &mut PgConnection, tables: &str| {
        stall
            .batch_execute(&format!(
                "BEGIN; LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE"
            ))
            .unwrap();
    };

    // Act: every table a page reads held (the pipelined read lane's connections time out);
    // then only the comments (a pooled connection's write times out).
    hold(&mut stall, "sessions, members, comments, change_counters");
    let page_stalled = bounded(ada.get("/")).await;
    stall.batch_execute("ROLLBACK").unwrap();
    ada.csrf().await; // The 503 page had no form to take a token from.
    hold(&mut stall, "comments");
    let post_stalled = bounded(ada.comment("while stalled")).await;
    stall.batch_execute("ROLLBACK").unwrap();
    let page_after = ada.get("/").await;
    let post_after = ada.comment("after the stall").await;

    // Assert
    for stalled in [&page_stalled, &post_stalled] {
        assert_eq!(
            stalled.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            stalled.body
        );
    }
    assert_eq!(page_after.status, StatusCode::OK);
    assert!(page_after.body.contains(LOGGED_IN), "still logged in");
    assert_eq!(
        post_after.status,
        StatusCode::SEE_OTHER,
        "{}",
        post_after.body
    );
    let page = ada.get("/").await;
    assert!(page.body.contains("after the stall"));
    assert!(!page.body.contains("while stalled"), "nothing half-written");
}

/// `request`'s page; the bound only fails a request that waits for a lock instead of the
/// statement timeout.
async fn bounded(request: impl std::future::Future<Output = Page>) -> Page {
    tokio::time::timeout(Duration::from_secs(60), request)
        .await
        .expect("an answer at the statement timeout, not when the stall ends")
}

/// Ada, a member of `app`, logged in.
async fn logged_in_member(app: &TestApp) -> Browser {
    app.create_member("ada").await;
    let mut ada = app.browser();
    assert_eq!(
        ada.log_in("ada", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    ada
}

/// Ends the server's connections named `application_name` whose last statement was one of
/// the lane's (the pool's Diesel queries read differently); how many it ended.
fn end_pipelined_connections(application_name: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Ended {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        ended: i64,
    }
    let mut admin = PgConnection::establish(&postgres_url().unwrap()).unwrap();
    diesel::sql_query(
        "SELECT count(pg_terminate_backend(pid)) AS ended FROM pg_stat_activity \
         WHERE application_name = $1 AND (query LIKE 'SELECT session_data,%' \
         OR query LIKE 'SELECT name, version FROM change_counters%')",
    )
    .bind::<Text, _>(application_name)
    .get_result::<Ended>(&mut admin)
    .unwrap()
    .ended
}

/// `url` with `param` added to its query string.
fn with_param(url: &str, param: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{param}")
}

/// The `host[:port]` part of a `postgres://user@host:port/db` URL, as written.
fn host_part(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let after_user = after_scheme
        .split_once('@')
        .map_or(after_scheme, |(_, rest)| rest);
    after_user.split(['/', '?']).next().unwrap_or(after_user)
}

/// The `host:port` a `postgres://` URL reaches.
fn server_address(url: &str) -> String {
    let host = host_part(url);
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    }
}

/// `url` reaching its server at `address` instead.
fn via(url: &str, address: &str) -> String {
    url.replacen(host_part(url), address, 1)
}
