//! The comment list as the pages show it, rendered once and served from memory until the
//! comments change.
//!
//! The list changes rarely and is read on every page. Each request reads the `comments` change
//! counter (see [`crate::changes`]) and gets the rendered newest page while the counter is the
//! one it was rendered at. So a visitor who has just posted sees their comment on their next
//! page, on any instance, and a page costs the database one small shared read instead of a
//! join and a render.

use std::{
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use askama::Template;
use diesel::Connection as _;

use super::DomainError;
pub use crate::db::comments::Cursor;
use crate::{
    changes::Changes,
    db::{
        DbError, changes,
        comments::{self, Audience},
        models::{CommentWithAuthor, now_utc},
    },
    display::{Deadline, format_iso, format_time},
};

/// Comments per page.
pub const PAGE_SIZE: i64 = 20;

/// A rendered page of comments as everyone sees it: its HTML, the change counter it was
/// rendered at, and what it was rendered from (to render it again for the one visitor whose
/// comment is on it).
pub struct RenderedList {
    version: i64,
    html: String,
    cursor: Cursor,
    rows: Vec<CommentWithAuthor>,
    more: bool,
}

/// The comment pages, from memory while they are current; cheap to share.
pub struct CommentFeed {
    changes: Changes,
    newest: RwLock<Option<Arc<RenderedList>>>,
    /// `COMMENT_EDIT_WINDOW`: how long the author is offered Edit and Delete.
    edit_window: Duration,
}

/// A page of comments as one viewer gets it.
pub enum ListHtml {
    /// The page everyone sees, shared.
    Everyone(Arc<RenderedList>),
    /// Rendered for this viewer (their own comment, or staff).
    Viewer(String),
}

impl ListHtml {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Everyone(list) => &list.html,
            Self::Viewer(html) => html,
        }
    }

    /// Whether comment `id` is on this page.
    pub fn shows_comment(&self, id: i64) -> bool {
        self.as_str().contains(&format!("id=\"comment-{id}\""))
    }
}

/// Who is looking at the comments, for what only they see.
#[derive(Default)]
pub struct Viewer<'a> {
    /// The visitor id of a session that has commented: their comment is marked as theirs
    /// and, within the edit window, offers Edit and Delete.
    pub author: Option<String>,
    /// A staff member: hidden comments too, and Hide or Unhide on every comment.
    pub staff: bool,
    /// The form token for those buttons.
    pub csrf_token: &'a str,
    /// A message to show at one comment (staff's confirmation of hiding or showing it).
    pub notice: Option<(i64, &'a str)>,
}

/// One comment as shown.
struct CommentView {
    id: i64,
    body: String,
    author: String,
    posted_at: String,
    posted_at_iso: String,
    edited: bool,
    hidden: bool,
    /// Posted by the viewer.
    own: bool,
    /// Until when the viewer may still edit or delete it (their own, within the window).
    editable_until: Option<Deadline>,
    /// A message for the viewer about this comment.
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "comment_list.html")]
struct CommentList<'a> {
    comments: Vec<CommentView>,
    /// The newest page: with no comments, the page invites the first.
    newest: bool,
    newer: Option<String>,
    older: Option<String>,
    /// Staff see Hide or Unhide on every comment.
    staff: bool,
    csrf_token: &'a str,
    /// Where a moderation action comes back to: this page.
    here: &'a str,
}

impl CommentFeed {
    pub fn new(changes: Changes, edit_window: Duration) -> Self {
        Self {
            changes,
            newest: RwLock::new(None),
            edit_window,
        }
    }

    /// The page of comments at `cursor` as `viewer` sees it, current as of this call. The
    /// page everyone sees is rendered once per change; it is rendered again for the author
    /// whose comment is on it, and for staff.
    ///
    /// # Errors
    /// When the database fails or the template cannot render.
    pub async fn page(&self, cursor: Cursor, viewer: &Viewer<'_>) -> Result<ListHtml, DomainError> {
        if viewer.staff {
            let (_, cursor, rows, more) = self.load(cursor, Audience::Staff).await?;
            return Ok(ListHtml::Viewer(self.render(cursor, &rows, more, viewer)?));
        }
        let list = self.shared_page(cursor).await?;
        let on_page = |author: &String| list.rows.iter().any(|row| &row.visitor_id == author);
        if !viewer.author.as_ref().is_some_and(on_page) {
            return Ok(ListHtml::Everyone(list));
        }
        let html = self.render(list.cursor, &list.rows, list.more, viewer)?;
        Ok(ListHtml::Viewer(html))
    }

    /// The page at `cursor` as everyone sees it.
    async fn shared_page(&self, cursor: Cursor) -> Result<Arc<RenderedList>, DomainError> {
        if cursor == Cursor::Newest {
            let version = self.changes.current().await?.comments;
            if let Some(cached) = self.cached_newest()
                && cached.version >= version
            {
                return Ok(cached);
            }
        }
        let (version, cursor, rows, more) = self.load(cursor, Audience::Everyone).await?;
        let rendered = Arc::new(RenderedList {
            version,
            html: self.render(cursor, &rows, more, &Viewer::default())?,
            cursor,
            rows,
            more,
        });
        if cursor == Cursor::Newest {
            self.keep_newest(&rendered);
        }
        Ok(rendered)
    }

    /// The rows of the page at `cursor` for `audience`, with the counter they are current at
    /// and the cursor they were found at.
    async fn load(
        &self,
        cursor: Cursor,
        audience: Audience,
    ) -> Result<(i64, Cursor, Vec<CommentWithAuthor>, bool), DomainError> {
        Ok(self
            .changes
            .db()
            .read(move |conn| {
                // The counter first, then the rows, in one transaction: on SQLite one snapshot;
                // on PostgreSQL (read committed) the rows may be newer than the counter, never
                // older, so a kept page is never staler than its tag.
                conn.transaction(|conn| {
                    let version = changes::versions(conn)?.comments;
                    let (rows, more) = comments::page(conn, cursor, PAGE_SIZE, audience)?;
                    if matches!(cursor, Cursor::After(_)) && !more {
                        // Nothing newer than a whole page: that is the newest page.
                        let (rows, more) =
                            comments::page(conn, Cursor::Newest, PAGE_SIZE, audience)?;
                        return Ok::<_, DbError>((version, Cursor::Newest, rows, more));
                    }
                    Ok((version, cursor, rows, more))
                })
            })
            .await?)
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

    /// The HTML of `rows` (newest first) at `cursor` for `viewer`; `more` says whether
    /// comments lie beyond them in the cursor's direction.
    fn render(
        &self,
        cursor: Cursor,
        rows: &[CommentWithAuthor],
        more: bool,
        viewer: &Viewer<'_>,
    ) -> Result<String, DomainError> {
        let (first, last) = (rows.first().map(|r| r.id), rows.last().map(|r| r.id));
        let newer = match cursor {
            Cursor::Newest => None,
            Cursor::Before(_) => {
                Some(first.map_or_else(|| "/".into(), |id| format!("/?after={id}")))
            }
            Cursor::After(_) => first.filter(|_| more).map(|id| format!("/?after={id}")),
        };
        let older = match cursor {
            Cursor::Newest | Cursor::Before(_) => last.filter(|_| more),
            // A page of newer comments always has the one it started from below it.
            Cursor::After(_) => last,
        }
        .map(|id| format!("/?before={id}"));
        let here = match cursor {
            Cursor::Newest => "/".to_owned(),
            Cursor::Before(id) => format!("/?before={id}"),
            Cursor::After(id) => format!("/?after={id}"),
        };
        // Comments posted since then may still be changed by their author.
        let now = now_utc();
        let window_opened = now - self.edit_window;
        let edit_window = self.edit_window;
        Ok(CommentList {
            comments: rows
                .iter()
                .map(|row| {
                    let own = viewer.author.as_ref() == Some(&row.visitor_id);
                    let editable_until = (own && row.created_at >= window_opened && !row.hidden)
                        .then(|| Deadline::new(row.created_at + edit_window, now));
                    let notice = viewer
                        .notice
                        .filter(|(id, _)| *id == row.id)
                        .map(|(_, text)| text.to_owned());
                    view(row.clone(), own, editable_until, notice)
                })
                .collect(),
            newest: cursor == Cursor::Newest,
            newer,
            older,
            staff: viewer.staff,
            csrf_token: viewer.csrf_token,
            here: &here,
        }
        .render()?)
    }
}

fn view(
    row: CommentWithAuthor,
    own: bool,
    editable_until: Option<Deadline>,
    notice: Option<String>,
) -> CommentView {
    CommentView {
        id: row.id,
        body: row.body,
        author: match (row.author, row.by_former_member) {
            (Some(username), _) => username,
            (None, true) => "a former member".into(),
            (None, false) => "Anonymous".into(),
        },
        posted_at: format_time(row.created_at),
        posted_at_iso: format_iso(row.created_at),
        edited: row.edited,
        hidden: row.hidden,
        own,
        editable_until,
        notice,
    }
}
