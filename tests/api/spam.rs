//! The comment throttle and the spam trap, over HTTP.
//!
//! A script that drops its cookies is a new visitor on every post, so "one comment per
//! visitor" does not stop it: the throttle counts new comments per client address
//! (`COMMENT_THROTTLE_*`), and the spam trap refuses what only scripts do (fill a field people
//! never see, post before anyone could have read the form: `COMMENT_MIN_SECONDS`). A refused
//! post stores nothing: no comment, no session, no place under the limit.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use actix_web::http::StatusCode;
use futures_util::future::join_all;
use guestbook::settings::Settings;
use html5gum::{Token, Tokenizer};

use crate::helpers::{
    Browser, Flavor, Page, Server, SharedSite, TcpProxy, TestApp, behind_a_proxy,
    delete_redis_keys, redis_addr, redis_available, redis_url, spawn_app_with,
};

/// What the spam trap says, whichever check caught the post.
const TRAP_REFUSAL: &str = "Your comment could not be posted. Please wait a moment and try again.";
const THROTTLE_REFUSAL: &str = "Your comment was not posted yet: many comments have come from \
    your network recently (other people on it count too), so posting from it is paused.";

/// At most `limit` comments per address per `window`.
fn throttled(limit: u64, window: Duration) -> impl Fn(&mut Settings) {
    move |s| {
        behind_a_proxy(s);
        s.comments.throttle.per_address = limit;
        s.comments.throttle.window = window;
    }
}

/// The form stamp is checked: a post must come `seconds` after its form was rendered.
fn stamp_checked(seconds: u64) -> impl Fn(&mut Settings) {
    move |s| {
        behind_a_proxy(s);
        s.comments.min_seconds = Duration::from_secs(seconds);
    }
}

/// Posts `fields` (and the CSRF token) as coming from client `address`, asking for JSON or not.
async fn post_from(
    browser: &mut Browser,
    address: &str,
    fields: &[(&str, &str)],
    json: bool,
) -> Page {
    let mut headers = vec![("X-Forwarded-For", address)];
    if json {
        headers.push(("Accept", "application/json"));
    }
    browser.post_with("/comments", fields, &headers).await
}

/// A new visitor (cookies of its own) commenting `text` from `address`.
async fn fresh_visitor_comments(app: &TestApp, address: &str, text: &str) -> Page {
    post_from(&mut app.browser(), address, &[("comment", text)], false).await
}

/// The stamp of a form rendered `seconds` ago, signed with the app's key.
fn stamp_from(app: &TestApp, seconds: u64) -> String {
    app.state
        .spam_trap
        .stamp_at(SystemTime::now() - Duration::from_secs(seconds))
}

fn retry_after(page: &Page) -> u64 {
    page.header("retry-after")
        .expect("a Retry-After header")
        .parse()
        .expect("seconds")
}

/// Every start tag of `body`: its name and attributes.
fn start_tags(body: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    Tokenizer::new(body)
        .flatten()
        .filter_map(|token| match token {
            Token::StartTag(tag) => Some((
                text(&tag.name),
                tag.attributes
                    .iter()
                    .map(|(name, value)| (text(name), text(&value.value)))
                    .collect(),
            )),
            _ => None,
        })
        .collect()
}

/// The attributes of the first `tag` whose attribute `name` is `value`.
fn tag_with(
    body: &str,
    tag: &str,
    (name, value): (&str, &str),
) -> Option<BTreeMap<String, String>> {
    start_tags(body)
        .into_iter()
        .find(|(found, attributes)| {
            found == tag && attributes.get(name).map(String::as_str) == Some(value)
        })
        .map(|(_, attributes)| attributes)
}

/// The comment form's stamp on `page`.
fn form_stamp(page: &Page) -> String {
    tag_with(&page.body, "input", ("name", "form_stamp"))
        .and_then(|input| input.get("value").cloned())
        .expect("the comment form carries a stamp")
}

/// The refused post left nothing behind: no session cookie, no stored session, and the
/// comments already there are all there are.
async fn nothing_stored(app: &TestApp, refused: &Page, comments: i64, sessions: u64) {
    assert!(
        refused.set_cookie("sessionid").is_none(),
        "a refused post sets no session cookie: {:?}",
        refused.set_cookies
    );
    app.assert_stored_sessions(sessions).await;
    assert_eq!(app.count("comments"), comments);
}

// ---------- the comment throttle ----------

#[actix_web::test]
async fn past_the_limit_a_comment_is_429_with_its_text_kept_and_nothing_stored() {
    for flavor in Flavor::on_each_database("past_the_limit_a_comment_is_429") {
        // Arrange: two comments from one address, each from a new visitor (a script that
        // drops its cookies).
        let app = flavor
            .spawn_app_with(throttled(2, Duration::from_secs(3600)))
            .await;
        for n in 1..=2 {
            let stored = fresh_visitor_comments(&app, "203.0.113.10", &format!("No. {n}")).await;
            assert_eq!(stored.status, StatusCode::SEE_OTHER, "{flavor:?}");
        }

        // Act
        let refused =
            fresh_visitor_comments(&app, "203.0.113.10", "The third comment, kept.").await;
        let json = post_from(
            &mut app.browser(),
            "203.0.113.10",
            &[("comment", "As JSON")],
            true,
        )
        .await;

        // Assert: the form again, with the text and the reason, and when to come back.
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{flavor:?}");
        assert!((3500..=3600).contains(&retry_after(&refused)));
        assert!(refused.body.contains(THROTTLE_REFUSAL), "{}", refused.body);
        assert!(
            refused.body.contains("You can post it in 60 minutes."),
            "{}",
            refused.body
        );
        assert!(
            refused
                .body
                .contains(&format!(r#"data-paused-for="{}""#, retry_after(&refused))),
            "the button waits as long as Retry-After says: {}",
            refused.body
        );
        assert!(
            refused
                .body
                .contains(">The third comment, kept.</textarea>"),
            "{}",
            refused.body
        );
        assert!(refused.csrf_token().is_some(), "the form can be sent again");
        nothing_stored(&app, &refused, 2, 2).await;

        assert_eq!(json.status, StatusCode::TOO_MANY_REQUESTS);
        assert!((3500..=3600).contains(&retry_after(&json)));
        let error = json.json()["error"].as_str().unwrap().to_owned();
        assert!(error.starts_with(THROTTLE_REFUSAL), "{error}");
        nothing_stored(&app, &json, 2, 2).await;
    }
}

#[actix_web::test]
async fn after_the_window_an_address_may_comment_again() {
    // Arrange: one comment per second.
    let app = spawn_app_with(throttled(1, Duration::from_secs(1))).await;
    let first = fresh_visitor_comments(&app, "203.0.113.11", "first").await;
    let refused = fresh_visitor_comments(&app, "203.0.113.11", "too soon").await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);

    // Act: come back when told to.
    let wait = retry_after(&refused);
    actix_web::rt::time::sleep(Duration::from_secs(wait) + Duration::from_millis(50)).await;
    let later = fresh_visitor_comments(&app, "203.0.113.11", "later").await;

    // Assert
    assert_eq!(wait, 1);
    assert_eq!(later.status, StatusCode::SEE_OTHER, "{}", later.body);
    assert_eq!(app.count("comments"), 2);
}

#[actix_web::test]
async fn each_client_address_counts_apart_and_an_untrusted_forwarded_for_changes_nothing() {
    // Arrange: one comment per address; behind the tests' proxy, and without one.
    let limit = throttled(1, Duration::from_secs(3600));
    let proxied = spawn_app_with(&limit).await;
    let direct = spawn_app_with(|s| {
        limit(s);
        s.security.trusted_proxies = Vec::new();
    })
    .await;

    // Act
    let first = fresh_visitor_comments(&proxied, "203.0.113.20", "one").await;
    let again = fresh_visitor_comments(&proxied, "203.0.113.20", "two").await;
    let elsewhere = fresh_visitor_comments(&proxied, "203.0.113.21", "three").await;
    let direct_first = fresh_visitor_comments(&direct, "203.0.113.30", "one").await;
    let spoofed = fresh_visitor_comments(&direct, "203.0.113.31", "two").await;

    // Assert: an address of its own is a limit of its own, but only a trusted proxy says so.
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(elsewhere.status, StatusCode::SEE_OTHER);
    assert_eq!(direct_first.status, StatusCode::SEE_OTHER);
    assert_eq!(spoofed.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        (proxied.count("comments"), direct.count("comments")),
        (2, 1)
    );
}

#[actix_web::test]
async fn instances_sharing_redis_count_comments_together() {
    if !redis_available("instances_sharing_redis_count_comments_together") {
        return;
    }
    // Arrange: two instances, one database, one Redis, one key prefix; three comments per
    // address.
    let mut site = SharedSite::new();
    let redis = site.redis();
    let shared = |s: &mut Settings| {
        throttled(3, Duration::from_secs(3600))(s);
        site.share(s);
        s.cache.backend = redis.clone();
        s.cache.key_prefix.clone_from(&site.redis_prefix);
    };
    let one = spawn_app_with(shared).await;
    let two = spawn_app_with(shared).await;

    // Act: two comments on the first, one on the second, then one more on each.
    let mut statuses = Vec::new();
    for (app, text) in [
        (&one, "a"),
        (&one, "b"),
        (&two, "c"),
        (&two, "d"),
        (&one, "e"),
    ] {
        statuses.push(
            fresh_visitor_comments(app, "203.0.113.40", text)
                .await
                .status,
        );
    }

    // Assert
    assert_eq!(
        statuses,
        [
            StatusCode::SEE_OTHER,
            StatusCode::SEE_OTHER,
            StatusCode::SEE_OTHER,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
        ]
    );
    assert_eq!(one.count("comments"), 3);
}

#[actix_web::test]
async fn racing_fresh_visitors_from_one_address_store_exactly_the_limit() {
    for flavor in Flavor::on_each_database("racing_fresh_visitors_store_exactly_the_limit") {
        // Arrange: ten visitors who have read the page, five comments allowed.
        let app = flavor
            .spawn_app_with(throttled(5, Duration::from_secs(3600)))
            .await;
        let mut visitors: Vec<Browser> = (0..10).map(|_| app.browser()).collect();
        for visitor in &mut visitors {
            visitor.csrf().await;
        }

        // Act: all at once.
        let results = join_all(visitors.iter_mut().enumerate().map(|(n, visitor)| {
            let text = format!("racer {n}");
            async move { post_from(visitor, "203.0.113.50", &[("comment", &text)], false).await }
        }))
        .await;

        // Assert
        let statuses: Vec<StatusCode> = results.iter().map(|page| page.status).collect();
        let stored = statuses
            .iter()
            .filter(|s| **s == StatusCode::SEE_OTHER)
            .count();
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!((stored, refused), (5, 5), "{flavor:?}: {statuses:?}");
        assert_eq!(app.count("comments"), 5);
        app.assert_stored_sessions(5).await;
    }
}

#[actix_web::test]
async fn a_comment_refused_as_already_made_takes_no_place_under_the_limit() {
    // Arrange: two comments per address; a visitor comments from one tab.
    let app = spawn_app_with(throttled(2, Duration::from_secs(3600))).await;
    let mut visitor = app.browser();
    let token = visitor.csrf().await;
    let body = crate::helpers::encode(&[("comment", "mine"), ("csrf_token", &token)]);
    let mut tabs: Vec<Browser> = (0..2).map(|_| visitor.new_tab()).collect();
    let first = tabs[0]
        .post_raw("/comments", &body, &[("X-Forwarded-For", "203.0.113.60")])
        .await;

    // Act: the other tab, which has no session cookie yet, posts that visitor's comment again
    // (the database refuses it); then two neighbours from that address.
    let second = tabs[1]
        .post_raw("/comments", &body, &[("X-Forwarded-For", "203.0.113.60")])
        .await;
    let neighbour = fresh_visitor_comments(&app, "203.0.113.60", "a neighbour").await;
    let one_too_many = fresh_visitor_comments(&app, "203.0.113.60", "another").await;

    // Assert: the refused repeat gave its place back to the neighbour.
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.body);
    assert_eq!(neighbour.status, StatusCode::SEE_OTHER);
    assert_eq!(one_too_many.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.count("comments"), 2);
}

/// Without its cache the comment throttle neither refuses everyone nor lets everyone through:
/// this instance counts on its own until the cache answers again.
#[actix_web::test]
async fn without_its_cache_the_throttle_counts_in_this_instance_and_still_limits() {
    if !redis_available("without_its_cache_the_throttle_counts_in_this_instance") {
        return;
    }
    // Arrange: two comments per address; the throttle's cache is Redis through a proxy the
    // test cuts.
    let proxy = TcpProxy::start(redis_addr()).await;
    let app = spawn_app_with(|s| {
        throttled(2, Duration::from_secs(3600))(s);
        s.cache.backend = guestbook::settings::CacheBackend::Redis {
            url: format!("redis://{}/", proxy.addr()),
        };
    })
    .await;
    proxy.stop().await;

    // Act
    let first = fresh_visitor_comments(&app, "203.0.113.70", "one").await;
    let second = fresh_visitor_comments(&app, "203.0.113.70", "two").await;
    let third = fresh_visitor_comments(&app, "203.0.113.70", "three").await;
    let elsewhere = fresh_visitor_comments(&app, "203.0.113.71", "from next door").await;

    // Assert
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    assert_eq!(second.status, StatusCode::SEE_OTHER);
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(third.body.contains("three"), "the text is kept");
    assert_eq!(elsewhere.status, StatusCode::SEE_OTHER);
    assert_eq!(app.count("comments"), 3);
    // Reached through the proxy, the test Redis is not cleaned by the app's own resources.
    let _ = delete_redis_keys(&redis_url().unwrap(), &app.state.settings.cache.key_prefix);
}

// ---------- the spam trap ----------

#[actix_web::test]
async fn the_form_has_a_honeypot_hidden_by_a_class_and_from_assistive_technology_and_a_stamp() {
    let app = spawn_app_with(stamp_checked(2)).await;

    let home = app.browser().get("/").await;
    let css = app.browser().get("/static/css/site.css").await;

    let wrapper = tag_with(&home.body, "div", ("class", "trap")).expect("the honeypot wrapper");
    assert_eq!(wrapper.get("aria-hidden").map(String::as_str), Some("true"));
    assert!(
        !wrapper.contains_key("style"),
        "hidden by the class: {wrapper:?}"
    );
    let input = tag_with(&home.body, "input", ("name", "website")).expect("the honeypot");
    assert_eq!(input.get("tabindex").map(String::as_str), Some("-1"));
    assert_eq!(input.get("autocomplete").map(String::as_str), Some("off"));
    assert_eq!(input.get("type").map(String::as_str), Some("text"));
    tag_with(&home.body, "label", ("for", "website")).expect("the honeypot's label");
    assert!(home.body.contains("Leave this field empty"));
    assert!(
        css.body.contains(".trap {"),
        "the class is in the style sheet"
    );
    let stamp = form_stamp(&home);
    assert!(!stamp.is_empty() && stamp.contains(':'), "signed: {stamp}");
}

#[actix_web::test]
async fn a_filled_honeypot_is_422_and_nothing_is_stored_counted_or_started() {
    for flavor in Flavor::on_each_database("a_filled_honeypot_is_422") {
        // Arrange: one comment per address; a script fills every field, the stamp included.
        let app = flavor
            .spawn_app_with(|s| {
                stamp_checked(2)(s);
                s.comments.throttle.per_address = 1;
            })
            .await;
        let stamp = stamp_from(&app, 60);
        let spam = [
            ("comment", "Buy now, kept."),
            ("website", "https://spam.example"),
            ("form_stamp", &stamp),
        ];

        // Act: the script's posts, then a person's.
        let refused = post_from(&mut app.browser(), "203.0.113.80", &spam, false).await;
        let json = post_from(&mut app.browser(), "203.0.113.80", &spam, true).await;
        let left_by_the_script = (app.count("comments"), app.stored_sessions().await);
        let person = post_from(
            &mut app.browser(),
            "203.0.113.80",
            &[
                ("comment", "A person"),
                ("website", ""),
                ("form_stamp", &stamp),
            ],
            false,
        )
        .await;

        // Assert: refused without saying why, with the text back, and nothing left behind;
        // the person's comment after them is the address's first.
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{flavor:?}"
        );
        assert!(refused.body.contains(TRAP_REFUSAL), "{}", refused.body);
        assert!(!refused.body.to_lowercase().contains("honeypot"));
        assert!(refused.body.contains(">Buy now, kept.</textarea>"));
        assert!(refused.header("retry-after").is_none());
        assert_eq!(json.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(json.json()["error"], TRAP_REFUSAL);
        for page in [&refused, &json] {
            assert!(
                page.set_cookie("sessionid").is_none(),
                "{:?}",
                page.set_cookies
            );
        }
        assert_eq!(left_by_the_script, (0, Some(0)));
        assert_eq!(person.status, StatusCode::SEE_OTHER, "{}", person.body);
        assert_eq!(app.count("comments"), 1);
    }
}

#[actix_web::test]
async fn the_honeypot_is_checked_even_when_the_stamp_is_not() {
    let app = spawn_app_with(|s| s.comments.min_seconds = Duration::ZERO).await;

    let refused = app
        .browser()
        .post("/comments", &[("comment", "spam"), ("website", "x")])
        .await;

    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    nothing_stored(&app, &refused, 0, 0).await;
}

#[actix_web::test]
async fn a_comment_posted_too_soon_after_its_form_is_422_with_its_text_and_a_fresh_form() {
    for flavor in Flavor::on_each_database("a_comment_posted_too_soon_is_422") {
        // Arrange: a form must be an hour old (so no test machine is ever slow enough).
        let app = flavor.spawn_app_with(stamp_checked(3600)).await;
        let mut visitor = app.browser();
        let form = visitor.get("/").await;
        let stamp = form_stamp(&form);

        // Act
        let refused = post_from(
            &mut visitor,
            "203.0.113.90",
            &[("comment", "Typed fast, kept."), ("form_stamp", &stamp)],
            false,
        )
        .await;

        // Assert: the neutral message, the text, and a form with a stamp of its own.
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{flavor:?}"
        );
        assert!(refused.body.contains(TRAP_REFUSAL));
        assert!(refused.body.contains(">Typed fast, kept.</textarea>"));
        assert!(!form_stamp(&refused).is_empty());
        nothing_stored(&app, &refused, 0, 0).await;
    }
}

#[actix_web::test]
async fn a_missing_forged_tampered_foreign_or_stale_stamp_is_422() {
    // Arrange
    let app = spawn_app_with(stamp_checked(2)).await;
    let other_site = spawn_app_with(stamp_checked(2)).await;
    let good = stamp_from(&app, 60);
    let (time, signature) = good.rsplit_once(':').unwrap();
    let earlier = time.parse::<i64>().unwrap() - 1000;
    let tampered = format!("{earlier}:{signature}");
    let foreign = stamp_from(&other_site, 60);
    let stale = stamp_from(&app, 2 * 86_400);

    // Act
    let mut statuses = Vec::new();
    let stamps = [
        None,
        Some(""),
        Some("12345"),
        Some(tampered.as_str()),
        Some(foreign.as_str()),
        Some(stale.as_str()),
    ];
    for stamp in stamps {
        let mut fields = vec![("comment", "a comment")];
        fields.extend(stamp.map(|stamp| ("form_stamp", stamp)));
        let page = post_from(&mut app.browser(), "203.0.113.100", &fields, true).await;
        nothing_stored(&app, &page, 0, 0).await;
        statuses.push((
            stamp.map(str::to_owned),
            page.status,
            page.json()["error"].clone(),
        ));
    }

    // Assert
    for (stamp, status, error) in statuses {
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{stamp:?}");
        assert_eq!(error, TRAP_REFUSAL, "{stamp:?}");
    }
}

#[actix_web::test]
async fn a_comment_from_a_form_read_long_enough_ago_is_stored() {
    for flavor in Flavor::on_each_database("a_comment_from_a_form_read_long_enough_ago") {
        let app = flavor.spawn_app_with(stamp_checked(2)).await;
        let stamp = stamp_from(&app, 3);

        let page = post_from(
            &mut app.browser(),
            "203.0.113.110",
            &[
                ("comment", "Took my time"),
                ("website", ""),
                ("form_stamp", &stamp),
            ],
            false,
        )
        .await;

        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "{flavor:?}: {}",
            page.body
        );
        assert_eq!(app.count("comments"), 1);
        app.assert_stored_sessions(1).await;
    }
}

#[actix_web::test]
async fn refusals_are_counted_by_reason() {
    // Arrange: the metrics are shared by every app in this process: counts are compared.
    let app = spawn_app_with(|s| {
        stamp_checked(2)(s);
        s.comments.throttle.per_address = 1;
        s.observability.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let before = scrape(&app).await;
    let stamp = stamp_from(&app, 60);
    let good = [("comment", "hello"), ("form_stamp", stamp.as_str())];

    // Act: a script's post, a stamp too young, a comment, one too many.
    let mut trapped = app.browser();
    post_from(
        &mut trapped,
        "203.0.113.120",
        &[("comment", "x"), ("website", "y")],
        false,
    )
    .await;
    let too_fast = stamp_from(&app, 0);
    post_from(
        &mut app.browser(),
        "203.0.113.120",
        &[("comment", "x"), ("form_stamp", &too_fast)],
        false,
    )
    .await;
    post_from(&mut app.browser(), "203.0.113.120", &good, false).await;
    post_from(&mut app.browser(), "203.0.113.120", &good, false).await;
    let after = scrape(&app).await;

    // Assert
    for reason in ["honeypot", "too_fast", "throttle"] {
        let counted = refusals(&after, reason) - refusals(&before, reason);
        assert!(counted >= 1.0, "{reason}: {after}");
    }
}

#[actix_web::test]
async fn refusals_are_logged_with_their_reason_and_address_never_the_text() {
    // Arrange: a real server logging to a file, one comment per address.
    let server = Server::start(&[
        ("RUST_LOG", "info"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("COMMENT_THROTTLE_PER_ADDRESS", "1"),
    ])
    .await;
    let comment = |text| [("comment", text), ("website", "")];

    // Act: a script's post, a person's, and one more from that address.
    let spam = [("comment", "Unmistakable spam text"), ("website", "x")];
    let trapped = post_from(
        &mut Browser::at(&server.address),
        "198.51.100.9",
        &spam,
        false,
    )
    .await;
    let stored = post_from(
        &mut Browser::at(&server.address),
        "198.51.100.9",
        &comment("A person's words"),
        false,
    )
    .await;
    let throttled = post_from(
        &mut Browser::at(&server.address),
        "198.51.100.9",
        &comment("Unmistakable second words"),
        false,
    )
    .await;
    let logged = server.stop();

    // Assert
    assert_eq!(
        [trapped.status, stored.status, throttled.status],
        [
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::SEE_OTHER,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let line = |message: &str| {
        logged
            .lines()
            .find(|line| line.contains(message))
            .unwrap_or_else(|| panic!("no {message:?} line:\n{logged}"))
            .to_owned()
    };
    let trap_line = line("comment refused by the spam trap");
    assert!(trap_line.contains("reason=\"honeypot\""), "{trap_line}");
    assert!(trap_line.contains("198.51.100.9"), "{trap_line}");
    let throttle_line = line("comment refused: too many from this address");
    assert!(throttle_line.contains("198.51.100.9"), "{throttle_line}");
    assert!(!logged.contains("Unmistakable"), "{logged}");
}

async fn scrape(app: &TestApp) -> String {
    let address = app.metrics_address.as_ref().expect("METRICS_ADDR is set");
    let mut res = awc::Client::default()
        .get(format!("{address}/metrics"))
        .send()
        .await
        .unwrap();
    String::from_utf8(res.body().await.unwrap().to_vec()).unwrap()
}

/// `guestbook_comment_refusals_total{reason}` in a scrape (zero before the first).
fn refusals(scrape: &str, reason: &str) -> f64 {
    let series = format!("guestbook_comment_refusals_total{{reason=\"{reason}\"}} ");
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}
