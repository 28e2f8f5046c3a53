//! Prometheus metrics, served on `METRICS_ADDR` apart from the site.
//!
//! One registry per process: the instruments are counted wherever the work happens (the
//! request middleware, the session store, the throttle, the hashing queue) without each piece
//! carrying a handle. Nothing is counted, and the registry is never built, until an
//! application with `METRICS_ADDR` starts ([`enable`]). Several applications in one process
//! (the tests) share it, so their counts add up; each scrape sets the database pool gauges
//! from the application scraped.
//!
//! Label values are always from a fixed, small set (route patterns, never raw paths), so a
//! client cannot grow the number of series.

use std::{
    sync::{
        LazyLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use actix_session_engines::observe::{self, Observer};
use actix_web::{HttpResponse, http::header, web};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::db::Database;

/// The `route` label of a request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Request durations from 100 µs up: a page served from memory takes 1 to 2 ms, so
/// Prometheus's default buckets (from 5 ms) would hold nearly every request in the first.
const DURATION_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

static ENABLED: AtomicBool = AtomicBool::new(false);
static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

struct Metrics {
    registry: Registry,
    /// The process's own (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...),
    /// under their standard names, without the `guestbook_` prefix.
    process: Registry,
    http_requests: IntCounterVec,
    http_request_duration: HistogramVec,
    session_operations: IntCounterVec,
    cache_outage: IntGaugeVec,
    cache_epoch_bumps: IntCounter,
    cached_db_stale_entries: IntCounter,
    throttle_local_counts: IntCounter,
    login_throttle_refusals: IntCounterVec,
    password_hash_refusals: IntCounter,
    comment_refusals: IntCounterVec,
    db_pool_connections: IntGaugeVec,
    db_pool_size: IntGauge,
}

impl Metrics {
    fn new() -> Self {
        let registry =
            Registry::new_custom(Some("guestbook".into()), None).expect("a valid prefix");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "Requests answered, by route pattern.",
            ),
            &["route", "method", "status"],
        )
        .expect("a valid metric");
        let http_request_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer a request, by route pattern.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["route", "method", "status"],
        )
        .expect("a valid metric");
        let session_operations = IntCounterVec::new(
            Opts::new(
                "session_operations_total",
                "Calls to the session store, by engine, operation and outcome.",
            ),
            &["engine", "operation", "outcome"],
        )
        .expect("a valid metric");
        let cache_outage = IntGaugeVec::new(
            Opts::new(
                "cache_outage",
                "1 while a user of a cache (cached_db, throttle) works without it because it failed, else 0.",
            ),
            &["user"],
        )
        .expect("a valid metric");
        let cache_epoch_bumps = IntCounter::new(
            "cache_epoch_bumps_total",
            "Session changes the cache could not follow: each moved the cache epoch in the database.",
        )
        .expect("a valid metric");
        let cached_db_stale_entries = IntCounter::new(
            "cached_db_stale_entries_total",
            "cached_db cache entries from an older cache epoch, checked against the database.",
        )
        .expect("a valid metric");
        let throttle_local_counts = IntCounter::new(
            "throttle_local_counts_total",
            "Throttle counts kept in this instance's memory because the shared cache failed.",
        )
        .expect("a valid metric");
        let login_throttle_refusals = IntCounterVec::new(
            Opts::new(
                "login_throttle_refusals_total",
                "Logins and sign-ups refused with a 429, by the limit that refused them.",
            ),
            &["kind"],
        )
        .expect("a valid metric");
        let password_hash_refusals = IntCounter::new(
            "password_hash_refusals_total",
            "Logins and sign-ups refused with a 503 because the password hashing queue was full or too slow.",
        )
        .expect("a valid metric");
        let comment_refusals = IntCounterVec::new(
            Opts::new(
                "comment_refusals_total",
                "Comments refused by the comment throttle (429) or the spam trap (422), by reason.",
            ),
            &["reason"],
        )
        .expect("a valid metric");
        let db_pool_connections = IntGaugeVec::new(
            Opts::new(
                "db_pool_connections",
                "Open database pool connections, idle or in use (at scrape time).",
            ),
            &["state"],
        )
        .expect("a valid metric");
        let db_pool_size = IntGauge::new(
            "db_pool_size",
            "The most connections the database pool opens (DATABASE_POOL_SIZE).",
        )
        .expect("a valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new(
                "build_info",
                "Always 1; its labels say which build answers: the version, the compiler and \
                 whether libpq and OpenSSL are built in (the bundled feature).",
            ),
            &["version", "rustc", "bundled"],
        )
        .expect("a valid metric");
        build_info
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                env!("GUESTBOOK_RUSTC_VERSION"),
                if cfg!(feature = "bundled") {
                    "true"
                } else {
                    "false"
                },
            ])
            .set(1);
        for metric in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_request_duration.clone()),
            Box::new(session_operations.clone()),
            Box::new(cache_outage.clone()),
            Box::new(cache_epoch_bumps.clone()),
            Box::new(cached_db_stale_entries.clone()),
            Box::new(throttle_local_counts.clone()),
            Box::new(login_throttle_refusals.clone()),
            Box::new(password_hash_refusals.clone()),
            Box::new(comment_refusals.clone()),
            Box::new(db_pool_connections.clone()),
            Box::new(db_pool_size.clone()),
            Box::new(build_info),
        ] {
            registry
                .register(metric)
                .expect("each metric registered once");
        }
        let process = Registry::new();
        process
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("registered once");
        Self {
            registry,
            process,
            http_requests,
            http_request_duration,
            session_operations,
            cache_outage,
            cache_epoch_bumps,
            cached_db_stale_entries,
            throttle_local_counts,
            login_throttle_refusals,
            password_hash_refusals,
            comment_refusals,
            db_pool_connections,
            db_pool_size,
        }
    }
}

/// Starts counting (an application with `METRICS_ADDR` is starting), the session framework's
/// events included.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
    LazyLock::force(&METRICS);
    observe::set_observer(SessionMetrics);
}

/// What the session framework reports, counted here.
struct SessionMetrics;

impl Observer for SessionMetrics {
    fn store_call(&self, engine: &'static str, operation: &'static str, ok: bool) {
        session_operation(engine, operation, ok);
    }

    fn cache_outage(&self, user: &'static str, active: bool) {
        cache_outage(user, active);
    }

    fn cache_epoch_moved(&self) {
        cache_epoch_bump();
    }

    fn stale_cache_entry(&self) {
        cached_db_stale_entry();
    }
}

/// Whether anything is counted (an application with `METRICS_ADDR` started), for callers
/// whose labels cost something to work out.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The registry, once metrics are enabled; until then every record is a no-op.
fn metrics() -> Option<&'static Metrics> {
    ENABLED.load(Ordering::Relaxed).then(|| &*METRICS)
}

/// A request answered: `route` is the matched pattern (or [`UNMATCHED_ROUTE`]).
pub fn http_request(route: &str, method: &str, status: u16, took: Duration) {
    if let Some(m) = metrics() {
        let status = status.to_string();
        let labels = [route, method, status.as_str()];
        m.http_requests.with_label_values(&labels).inc();
        m.http_request_duration
            .with_label_values(&labels)
            .observe(took.as_secs_f64());
    }
}

/// A session store call: `operation` is load, save, update, touch or delete.
pub fn session_operation(engine: &str, operation: &str, ok: bool) {
    if let Some(m) = metrics() {
        let outcome = if ok { "ok" } else { "error" };
        m.session_operations
            .with_label_values(&[engine, operation, outcome])
            .inc();
    }
}

/// `user` (`cached_db`, `throttle`) started (`true`) or stopped (`false`) working without its
/// failed cache.
pub fn cache_outage(user: &str, active: bool) {
    if let Some(m) = metrics() {
        m.cache_outage
            .with_label_values(&[user])
            .set(i64::from(active));
    }
}

/// The cache epoch moved: a session change the cache could not follow.
pub fn cache_epoch_bump() {
    if let Some(m) = metrics() {
        m.cache_epoch_bumps.inc();
    }
}

/// A `cached_db` cache entry from an older epoch was checked against the database.
pub fn cached_db_stale_entry() {
    if let Some(m) = metrics() {
        m.cached_db_stale_entries.inc();
    }
}

/// A throttle count kept in this instance's memory: the shared cache failed.
pub fn throttle_local_count() {
    if let Some(m) = metrics() {
        m.throttle_local_counts.inc();
    }
}

/// A login or sign-up refused by the throttle: `kind` is user, address or signup.
pub fn login_throttle_refusal(kind: &str) {
    if let Some(m) = metrics() {
        m.login_throttle_refusals.with_label_values(&[kind]).inc();
    }
}

/// A login or sign-up refused because the password hashing queue was full or too slow.
pub fn password_hash_refusal() {
    if let Some(m) = metrics() {
        m.password_hash_refusals.inc();
    }
}

/// A comment refused: `reason` is `throttle` (too many from the address) or which check of the
/// spam trap caught it (`honeypot`, `no_stamp`, `forged_stamp`, `too_fast`, `too_old`).
pub fn comment_refusal(reason: &str) {
    if let Some(m) = metrics() {
        m.comment_refusals.with_label_values(&[reason]).inc();
    }
}

/// `GET /metrics`: every metric in the Prometheus text format, the pool gauges read now.
pub async fn scrape(db: web::Data<Database>) -> HttpResponse {
    let Some(m) = metrics() else {
        return HttpResponse::NotFound().finish();
    };
    let pool = db.pool_state();
    let in_use = pool.connections.saturating_sub(pool.idle);
    m.db_pool_connections
        .with_label_values(&["idle"])
        .set(i64::from(pool.idle));
    m.db_pool_connections
        .with_label_values(&["in_use"])
        .set(i64::from(in_use));
    m.db_pool_size.set(i64::from(pool.max_size));
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    let mut families = m.registry.gather();
    families.extend(m.process.gather());
    if let Err(err) = encoder.encode(&families, &mut body) {
        tracing::error!(error = %err, "metrics could not be rendered");
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, encoder.format_type()))
        .body(body)
}
