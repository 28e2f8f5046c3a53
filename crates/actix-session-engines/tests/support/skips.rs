//! What tests need from outside them (PostgreSQL from `TEST_DATABASE_URL`, Redis from
//! `REDIS_URL`, a browser, a command), and the tests skipped for want of it. Each skipped test
//! says why in its own output, which `cargo test` hides when the test passes, so the test
//! binary also ends with a count of them and what to set, printed after its `test result:`
//! line where `cargo test` shows it. Under CI nothing may be skipped: a skip is a failure there.
//!
//! One file for both the session crate's suites and the guestbook's (which includes it by path).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::sync::{Mutex, Once, PoisonError};

/// The tests skipped so far, by what would make them run.
static SKIPPED: Mutex<BTreeMap<String, BTreeSet<String>>> = Mutex::new(BTreeMap::new());
static REPORT_AT_EXIT: Once = Once::new();

/// `TEST_DATABASE_URL`, the PostgreSQL server the tests may create schemas on.
pub fn postgres_url() -> Option<String> {
    // Before libpq first starts OpenSSL: OpenSSL then skips its clean-up at exit, which can
    // crash the test process after its last test, while other threads still hold TLS
    // connections (as `Database::connect` does for the site).
    openssl_sys::init();
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// `REDIS_URL`, the Redis the tests may use.
pub fn redis_url() -> Option<String> {
    std::env::var("REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// Whether a test that needs PostgreSQL can run (as [`redis_available`]).
pub fn postgres_available(test: &str) -> bool {
    available(
        test,
        postgres_url().is_some(),
        "TEST_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    )
}

/// Whether a test that needs Redis can run: without `REDIS_URL` it is skipped (see [`skip`]).
pub fn redis_available(test: &str) -> bool {
    available(
        test,
        redis_url().is_some(),
        "REDIS_URL",
        "redis://127.0.0.1:6379/",
    )
}

fn available(test: &str, configured: bool, variable: &str, example: &str) -> bool {
    if !configured {
        skip(test, &format!("set {variable} (e.g. {example})"));
    }
    configured
}

/// Whether this is a CI run, where nothing may be skipped: `CI` set to anything but empty,
/// `0` or `false` (CI services set `CI=true`, some `CI=1`).
fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| {
        !matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "" | "0" | "false"
        )
    })
}

/// Skips `test`, which needs what `remedy` says to provide ("set REDIS_URL (e.g. ...)"), or
/// fails it under CI.
pub fn skip(test: &str, remedy: &str) {
    assert!(
        !under_ci(),
        "{test} cannot run: {remedy}. Under CI nothing may be skipped"
    );
    eprintln!("skipped {test}: {remedy}");
    SKIPPED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(remedy.to_owned())
        .or_default()
        .insert(test.to_owned());
    REPORT_AT_EXIT.call_once(|| {
        // SAFETY: `report` is a plain `extern "C" fn()` that touches only statics and stderr,
        // as atexit requires. libtest ends the process through `exit` (returning from main or
        // `process::exit`), which runs it after the summary.
        unsafe { libc::atexit(report) };
    });
}

extern "C" fn report() {
    let Ok(skipped) = SKIPPED.try_lock() else {
        return;
    };
    let tests: BTreeSet<&String> = skipped.values().flatten().collect();
    let mut out = format!(
        "\nSKIPPED: {} of these tests skipped all or part of what they check (shown as passed \
         above):\n",
        tests.len()
    );
    for (remedy, tests) in skipped.iter() {
        out.push_str(&format!("  {:>4}: {remedy}\n", tests.len()));
    }
    let _ = std::io::stderr().write_all(out.as_bytes());
}
