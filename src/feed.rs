//! The comment list as the pages show it, rendered once and served from memory until the
//! comments change.
//!
//! The list changes rarely and is read on every page. Each request reads the `comments` change
//! counter (see [`crate::changes`]) and gets the rendered newest page while the counter is the
//! one it was rendered at. So a visitor who has just posted sees their comment on their next
//! page, on any instance, and a page costs the database one small shared read instead of a
//! join and a render.

use std::sync::{Arc, PoisonError, RwLock};

use askama::Template;
use diesel::Connection as _;

use crate::{
    changes::Changes,
    db::{
        DbError, changes,
        comments::{self, Cursor},
        models::CommentWithAuthor,
    },
    display::{format_iso, format_time},
    error::AppError,
};

/// Comments per page.
pub const PAGE_SIZE: i64 = 20;

/// A rendered page of comments: its HTML, and the change counter it was rendered at.
pub struct RenderedList {
    pub version: i64,
    pub html: String,
}

/// The comment pages, from memory while they are current; cheap to share.
pub struct CommentFeed {
    changes: Changes,
    newest: RwLock<Option<Arc<RenderedList>>>,
}

/// One comment as shown.
struct CommentView {
    body: String,
    author: String,
    posted_at: String,
    posted_at_iso: String,
}

#[derive(Template)]
#[template(path = "comment_list.html")]
struct CommentList {
    comments: Vec<CommentView>,
    /// The newest page: with no comments, the page invites the first.
    newest: bool,
    newer: Option<String>,
    older: Option<String>,
}

impl CommentFeed {
    pub fn new(changes: Changes) -> Self {
        Self {
            changes,
            newest: RwLock::new(None),
        }
    }

    /// The page of comments at `cursor`, current as of this call.
    ///
    /// # Errors
    /// When the database fails or the template cannot render.
    pub async fn page(&self, cursor: Cursor) -> Result<Arc<RenderedList>, AppError> {
        if cursor == Cursor::Newest {
            let version = self.changes.current().await?.comments;
            if let Some(cached) = self.cached_newest()
                && cached.version >= version
            {
                return Ok(cached);
            }
        }
        let (version, cursor, rows, more) = self
            .changes
            .db()
            .read(move |conn| {
                // The counter first, then the rows, in one transaction: on SQLite one snapshot;
                // on PostgreSQL (read committed) the rows may be newer than the counter, never
                // older, so a kept page is never staler than its tag.
                conn.transaction(|conn| {
                    let version = changes::versions(conn)?.comments;
                    let (rows, more) = comments::page(conn, cursor, PAGE_SIZE)?;
                    if matches!(cursor, Cursor::After(_)) && !more {
                        // Nothing newer than a whole page: that is the newest page.
                        let (rows, more) = comments::page(conn, Cursor::Newest, PAGE_SIZE)?;
                        return Ok::<_, DbError>((version, Cursor::Newest, rows, more));
                    }
                    Ok((version, cursor, rows, more))
                })
            })
            .await?;
        let rendered = Arc::new(RenderedList {
            version,
            html: render(cursor, rows, more)?,
        });
        if cursor == Cursor::Newest {
            self.keep_newest(&rendered);
        }
        Ok(rendered)
    }

    fn cached_newest(&self) -> Option<Arc<RenderedList>> {
        self.newest
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Keeps `rendered` unless a newer render is kept already.
    fn keep_newest(&self, rendered: &Arc<RenderedList>) {
        let mut newest = self.newest.write().unwrap_or_else(PoisonError::into_inner);
        if newest
            .as_ref()
            .is_none_or(|kept| kept.version < rendered.version)
        {
            *newest = Some(Arc::clone(rendered));
        }
    }
}

/// The HTML of `rows` (newest first) at `cursor`; `more` says whether comments lie beyond
/// them in the cursor's direction.
fn render(cursor: Cursor, rows: Vec<CommentWithAuthor>, more: bool) -> Result<String, AppError> {
    let (first, last) = (rows.first().map(|r| r.id), rows.last().map(|r| r.id));
    let newer = match cursor {
        Cursor::Newest => None,
        Cursor::Before(_) => Some(first.map_or_else(|| "/".into(), |id| format!("/?after={id}"))),
        Cursor::After(_) => first.filter(|_| more).map(|id| format!("/?after={id}")),
    };
    let older = match cursor {
        Cursor::Newest | Cursor::Before(_) => last.filter(|_| more),
        // A page of newer comments always has the one it started from below it.
        Cursor::After(_) => last,
    }
    .map(|id| format!("/?before={id}"));
    Ok(CommentList {
        comments: rows.into_iter().map(view).collect(),
        newest: cursor == Cursor::Newest,
        newer,
        older,
    }
    .render()?)
}

fn view(row: CommentWithAuthor) -> CommentView {
    CommentView {
        body: row.body,
        author: match (row.author, row.by_former_member) {
            (Some(username), _) => username,
            (None, true) => "a former member".into(),
            (None, false) => "Anonymous".into(),
        },
        posted_at: format_time(row.created_at),
        posted_at_iso: format_iso(row.created_at),
    }
}
