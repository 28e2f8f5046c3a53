//! guestbook: server-side sessions done right, after Django's session framework.
//!
//! `state` assembles the pieces, `startup` wires them into the application; everything else
//! is one module per concern, and depends only on the pieces it uses.
#![forbid(unsafe_code)]

pub mod background;
pub mod changes;
pub mod cli;
pub mod db;
pub mod display;
pub mod domain;
pub mod error;
pub mod flash;
pub mod logging;
pub mod metrics;
pub mod routes;
pub mod security;
pub mod sessions;
pub mod settings;
pub mod startup;
pub mod state;
