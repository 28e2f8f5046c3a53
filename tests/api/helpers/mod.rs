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

pub use self::{app::*, client::*, conformance::run_under, process::*, services::*};

pub fn random_string(len: usize) -> String {
    use rand::{Rng, distr::Alphanumeric};
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
