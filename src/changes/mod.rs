//! What this instance keeps in memory from the database, and how it knows it is current.
//!
//! The database keeps a change counter per table, bumped by triggers on every change to
//! `comments` and `members`, whoever makes it: this instance, another one, the command line,
//! plain SQL (`db::changes`). Each request that uses a copy reads the counters first, in one
//! small query shared by all the requests that arrive together (`shared_read.rs`), and uses the
//! copy only while its counter stands. So a change committed before a request arrives is seen
//! by that request on every instance, and a busy page costs the database one shared read
//! instead of its own queries.

mod counters;
mod kept;
mod left_comments;
mod members;
mod shared_read;

pub use self::{counters::Changes, left_comments::LeftComments, members::CurrentMembers};
