//! The engines, one file each. The server-side ones (`db`, `cache`, `cached_db`, `file`)
//! implement [`SessionBackend`](crate::SessionBackend); `signed_cookies` keeps the session in
//! the cookie itself. `django_db` is the `db` engine on Django's own table (`DJANGO_COMPAT`).

pub mod cache;
pub mod cached_db;
pub mod db;
pub mod django_db;
pub mod file;
pub mod signed_cookies;
