//! Signing, CSRF protection and password hashing.

pub mod csrf;
pub mod passwords;
pub mod proxies;
pub mod signing;
