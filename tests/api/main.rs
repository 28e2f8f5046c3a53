//! Integration tests: the real application, started per test on a random port with its own
//! database, driven over HTTP like a browser; and the session stores, driven directly.

#[macro_use]
mod helpers;

mod abuse;
mod account;
mod auth;
mod browser;
mod browser_words;
mod cache_outage;
mod cli;
mod comments;
mod deployment;
mod deployment_files;
mod django;
mod engines;
mod errors;
mod headers;
mod home;
mod layout;
mod moderation;
mod observability;
mod operations;
mod own_comment;
mod pages;
mod postgres_reads;
mod security;
mod sessions;
mod spam;
mod tls;
mod your_comment;
