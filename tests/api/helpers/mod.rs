//! What the integration tests share: the application under test ([`app`]), a client that
//! behaves like a browser ([`client`]), a real one ([`browser`]), the services some tests
//! need ([`services`]), the binary as a process ([`process`]), and the macro that runs a test under every session engine
//! ([`conformance`]).

#[macro_use]
mod conformance;
pub mod app;
pub mod browser;
pub mod client;
pub mod django;
pub mod process;
pub mod services;
// What tests need from outside (PostgreSQL, Redis) and the skipped tests, counted and reported
// where `cargo test` shows it: one file for this suite and the session crate's.
#[path = "../../../crates/actix-session-engines/tests/support/skips.rs"]
mod skips;

pub use self::{
    app::*,
    client::*,
    conformance::run_under,
    process::*,
    services::*,
    skips::{postgres_available, postgres_url, redis_available, redis_url, skip},
};

pub fn random_string(len: usize) -> String {
    use rand::{Rng, distr::Alphanumeric};
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
