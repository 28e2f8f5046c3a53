//! Signing, CSRF protection, password hashing, the secret key and who the client is.

pub mod csrf;
pub mod passwords;
pub mod proxies;
pub mod secret_key;
pub mod signing;
