//! An author's own comment: `GET`/`POST /comments/{id}/edit` and `GET`/`POST
//! /comments/{id}/delete` (the `GET`s are the form and the confirmation).
//!
//! The author is recognised by the session's visitor id (anonymous visitors and members
//! alike, across key rotation at login and logout), for `COMMENT_EDIT_WINDOW` after posting.
//! The rules are part of the database write itself (see [`comments::edit_own`]), so a request
//! racing the window, a moderator or another tab cannot slip through. Deleting the comment
//! leaves `has_commented` (and the comment's visitor id) as they were: no second comment.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;

use super::{CsrfOnlyForm, Form, Reply, comments::normalise_comment, home::Home, html, json_error};
use crate::{
    db::{
        Database,
        comments::{self, OwnComment, OwnOutcome},
        models::now_utc,
    },
    display::{format_iso, format_time},
    error::AppError,
    feed::CommentFeed,
    flash::Flash,
    sessions::VisitorSession,
};

pub const NOT_YOURS: &str =
    "This comment is not yours: only the visitor who posted it can change it.";
pub const TOO_LATE: &str = "This comment can no longer be changed: a comment can be edited or deleted only for a while after it is posted.";
pub const HIDDEN_BY_STAFF: &str = "A moderator has hidden this comment, so it cannot be edited.";
pub const CHANGED_MEANWHILE: &str = "The comment changed while this was being saved, so nothing was done. Reload the page and try again.";

/// What the author is about to do: a hidden comment may be deleted, not edited.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Change {
    Edit,
    Delete,
}

#[derive(Deserialize)]
pub struct EditForm {
    comment: Option<String>,
    csrf_token: Option<String>,
}

/// What both of the author's pages show.
struct OwnPage<'a> {
    id: i64,
    csrf_token: String,
    username: Option<String>,
    /// Until when the comment may be changed.
    until: String,
    until_iso: String,
    /// The text: the edit form's, or the one to delete.
    text: &'a str,
}

#[derive(Template)]
#[template(path = "comment_edit.html")]
struct EditPage<'a> {
    page: OwnPage<'a>,
    comment_error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "comment_delete.html")]
struct DeletePage<'a> {
    page: OwnPage<'a>,
}

/// The form to edit the visitor's own comment.
pub async fn edit_page(
    path: web::Path<i64>,
    db: web::Data<Database>,
    home: Home,
) -> Result<HttpResponse, AppError> {
    let comment = own_comment(&db, &home, path.into_inner(), Change::Edit).await?;
    let page = own_page(&home, &comment, &comment.body).await?;
    let edit = EditPage {
        page,
        comment_error: None,
    };
    Ok(html(StatusCode::OK, edit.render()?))
}

/// Replaces the text of the visitor's own comment.
pub async fn edit_comment(
    req: HttpRequest,
    path: web::Path<i64>,
    form: Form<EditForm>,
    db: web::Data<Database>,
    home: Home,
) -> Result<HttpResponse, AppError> {
    home.session.require()?;
    home.csrf.verify(form.csrf_token.as_deref())?;
    let reply = Reply::to(&req);
    let comment = own_comment(&db, &home, path.into_inner(), Change::Edit).await?;
    let body = match normalise_comment(form.comment.as_deref().unwrap_or_default()) {
        Ok(body) => body,
        Err(reason) if reply.is_json() => {
            return Ok(json_error(StatusCode::UNPROCESSABLE_ENTITY, reason));
        }
        Err(reason) => {
            let draft = form.comment.as_deref().unwrap_or_default();
            let edit = EditPage {
                page: own_page(&home, &comment, draft).await?,
                comment_error: Some(reason),
            };
            return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, edit.render()?));
        }
    };
    // Saved as it was: nothing to write, and nothing "edited".
    if body != comment.body {
        let (id, author, window_opened) =
            (comment.id, author(&home.session), window_opened(&home.feed));
        let outcome = db
            .write(move |conn| {
                comments::edit_own(conn, id, &author, window_opened, &body, now_utc())
            })
            .await?;
        allowed(outcome, Change::Edit)?;
        tracing::info!(comment = id, "comment edited by its author");
    }
    Ok(reply.done(Flash::CommentUpdated, "/"))
}

/// Asks the visitor to confirm deleting their own comment (which cannot be undone).
pub async fn delete_page(
    path: web::Path<i64>,
    db: web::Data<Database>,
    home: Home,
) -> Result<HttpResponse, AppError> {
    let comment = own_comment(&db, &home, path.into_inner(), Change::Delete).await?;
    let page = DeletePage {
        page: own_page(&home, &comment, &comment.body).await?,
    };
    Ok(html(StatusCode::OK, page.render()?))
}

/// Deletes the visitor's own comment.
pub async fn delete_comment(
    req: HttpRequest,
    path: web::Path<i64>,
    form: Form<CsrfOnlyForm>,
    db: web::Data<Database>,
    home: Home,
) -> Result<HttpResponse, AppError> {
    home.session.require()?;
    home.csrf.verify(form.csrf_token.as_deref())?;
    let (id, author, window_opened) = (
        path.into_inner(),
        author(&home.session),
        window_opened(&home.feed),
    );
    let outcome = db
        .write(move |conn| comments::delete_own(conn, id, &author, window_opened, now_utc()))
        .await?;
    allowed(outcome, Change::Delete)?;
    tracing::info!(comment = id, "comment deleted by its author");
    Ok(Reply::to(&req).done(Flash::CommentDeleted, "/"))
}

/// Comment `id`, when this visitor may make `change` to it now.
async fn own_comment(
    db: &Database,
    home: &Home,
    id: i64,
    change: Change,
) -> Result<OwnComment, AppError> {
    home.session.require()?;
    let comment = db
        .read(move |conn| comments::find_own(conn, id))
        .await?
        .ok_or(AppError::NotFound)?;
    let outcome = comment.may_change(&author(&home.session), window_opened(&home.feed));
    allowed(outcome, change)?;
    Ok(comment)
}

/// What the author's pages show of `comment`, with `text`.
async fn own_page<'a>(
    home: &Home,
    comment: &OwnComment,
    text: &'a str,
) -> Result<OwnPage<'a>, AppError> {
    let username = home.accounts.signed_in(&home.session).await?;
    let until = comment.created_at + home.feed.edit_window();
    Ok(OwnPage {
        id: comment.id,
        csrf_token: home.csrf.form_token(),
        username: username.map(|member| member.username),
        until: format_time(until),
        until_iso: format_iso(until),
        text,
    })
}

/// The visitor id this session posted with; none (matching no comment) when it has not.
fn author(session: &VisitorSession) -> String {
    session.author_id().unwrap_or_default()
}

/// Comments posted since then may still be changed by their author.
fn window_opened(feed: &CommentFeed) -> time::PrimitiveDateTime {
    now_utc() - feed.edit_window()
}

/// The refusal for `outcome` of `change`, if it is one.
fn allowed(outcome: OwnOutcome, change: Change) -> Result<(), AppError> {
    match outcome {
        OwnOutcome::Done => Ok(()),
        OwnOutcome::Hidden if change == Change::Delete => Ok(()),
        OwnOutcome::Hidden => Err(AppError::Forbidden(HIDDEN_BY_STAFF)),
        OwnOutcome::NotFound => Err(AppError::NotFound),
        OwnOutcome::NotYours => Err(AppError::Forbidden(NOT_YOURS)),
        OwnOutcome::TooLate => Err(AppError::Forbidden(TOO_LATE)),
        OwnOutcome::ChangedMeanwhile => Err(AppError::Conflict(CHANGED_MEANWHILE)),
    }
}
