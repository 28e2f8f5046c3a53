//! Signing, CSRF protection, password hashing, login and comment throttling, the comment
//! form's spam trap, which logged-in sessions still count, the secret key, who the client is,
//! which host names the site answers to, and HTTPS.

pub mod csrf;
pub mod deploy_checks;
pub mod hosts;
pub mod https;
pub mod passwords;
pub mod proxies;
pub mod secret_key;
pub mod session_auth;
pub mod spam_trap;
pub mod throttle;

/// Signing is the session framework's (its cookies are signed); the application signs its own
/// values with the same [`signing::Signer`].
pub use actix_session_engines::signing;
