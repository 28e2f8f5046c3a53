//! Integration tests: the real application, started per test on a random port with a fresh
//! SQLite database, driven over HTTP.

mod auth;
mod cli;
mod comments;
mod conformance;
mod deployment;
mod engines;
mod errors;
mod helpers;
mod home;
mod proxy;
mod security;
mod sessions;
