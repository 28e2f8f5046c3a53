//! An author's own comment: `GET`/`POST /comments/{id}/edit` and `POST /comments/{id}/delete`.
//!
//! The author is recognised by the session's visitor id (anonymous visitors and members
//! alike, across key rotation at login and logout), for `COMMENT_EDIT_WINDOW` after posting.
//! The rules are part of the database write itself (see [`comments::edit_own`]), so a request
//! racing the window, a moderator or another tab cannot slip through. Deleting the comment
//! leaves `has_commented` (and the comment's visitor id) as they were: no second comment.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;

use super::{
    CsrfOnlyForm, Reply, comments::normalise_comment, home::Home, html, json_error, json_message,
    see_other,
};
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
    security::csrf::CsrfToken,
    sessions::VisitorSession,
};

pub const NOT_YOURS: &str =
    "This comment is not yours: only the visitor who posted it can change it.";
pub const TOO_LATE: &str = "This comment can no longer be changed: a comment can be edited or deleted only for a while after it is posted.";
pub const HIDDEN_BY_STAFF: &str =
    "A moderator has hidden this comment: you can delete it, but not edit it.";

#[derive(Deserialize)]
pub struct EditForm {
    comment: Option<String>,
    csrf_token: Option<String>,
}

#[derive(Template)]
#[template(path = "comment_edit.html")]
struct EditPage<'a> {
    id: i64,
    csrf_token: String,
    username: Option<String>,
    draft: &'a str,
    comment_error: Option<&'a str>,
    until: String,
    until_iso: String,
}

/// The form to edit the visitor's own comment.
pub async fn edit_page(
    path: web::Path<i64>,
    db: web::Data<Database>,
    home: Home,
) -> Result<HttpResponse, AppError> {
    let Home {
        feed,
        accounts,
        session,
        csrf,
        ..
    } = &home;
    let comment = own_comment(&db, feed, session, path.into_inner()).await?;
    let username = accounts.signed_in(session).await?.map(|m| m.username);
    render_edit_page(
        feed,
        csrf,
        username,
        &comment,
        &comment.body,
        None,
        StatusCode::OK,
    )
}

/// Replaces the text of the visitor's own comment.
pub async fn edit_comment(
    req: HttpRequest,
    path: web::Path<i64>,
    form: web::Form<EditForm>,
    db: web::Data<Database>,
    home: Home,
) -> Result<HttpResponse, AppError> {
    let Home {
        feed,
        accounts,
        session,
        csrf,
        ..
    } = &home;
    session.require()?;
    csrf.verify(form.csrf_token.as_deref())?;
    let reply = Reply::to(&req);
    let comment = own_comment(&db, feed, session, path.into_inner()).await?;
    let body = match normalise_comment(form.comment.as_deref().unwrap_or_default()) {
        Ok(body) => body,
        Err(reason) if reply.is_json() => {
            return Ok(json_error(StatusCode::UNPROCESSABLE_ENTITY, reason));
        }
        Err(reason) => {
            let username = accounts.signed_in(session).await?.map(|m| m.username);
            let draft = form.comment.as_deref().unwrap_or_default();
            return render_edit_page(
                feed,
                csrf,
                username,
                &comment,
                draft,
                Some(reason),
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    let (id, author, window_opened) = (comment.id, author(session), window_opened(feed));
    let outcome = db
        .write(move |conn| comments::edit_own(conn, id, &author, window_opened, &body, now_utc()))
        .await?;
    allowed(outcome)?;
    tracing::info!(comment = id, "comment edited by its author");
    Ok(done(reply, Flash::CommentUpdated))
}

/// Deletes the visitor's own comment.
pub async fn delete_comment(
    req: HttpRequest,
    path: web::Path<i64>,
    form: web::Form<CsrfOnlyForm>,
    db: web::Data<Database>,
    home: Home,
) -> Result<HttpResponse, AppError> {
    let Home {
        feed,
        session,
        csrf,
        ..
    } = &home;
    session.require()?;
    csrf.verify(form.csrf_token.as_deref())?;
    let (id, author, window_opened) = (path.into_inner(), author(session), window_opened(feed));
    let outcome = db
        .write(move |conn| comments::delete_own(conn, id, &author, window_opened, now_utc()))
        .await?;
    allowed(outcome)?;
    tracing::info!(comment = id, "comment deleted by its author");
    Ok(done(Reply::to(&req), Flash::CommentDeleted))
}

/// Comment `id`, when this visitor may edit it now.
async fn own_comment(
    db: &Database,
    feed: &CommentFeed,
    session: &VisitorSession,
    id: i64,
) -> Result<OwnComment, AppError> {
    let comment = db
        .read(move |conn| comments::find_own(conn, id))
        .await?
        .ok_or(AppError::NotFound)?;
    allowed(comment.may_change(&author(session), window_opened(feed)))?;
    Ok(comment)
}

/// The visitor id this session posted with; none (matching no comment) when it has not.
fn author(session: &VisitorSession) -> String {
    session.author_id().unwrap_or_default()
}

/// Comments posted since then may still be changed by their author.
fn window_opened(feed: &CommentFeed) -> time::PrimitiveDateTime {
    now_utc() - feed.edit_window()
}

/// The refusal for `outcome`, if it is one.
fn allowed(outcome: OwnOutcome) -> Result<(), AppError> {
    match outcome {
        OwnOutcome::Done => Ok(()),
        OwnOutcome::NotFound => Err(AppError::NotFound),
        OwnOutcome::NotYours => Err(AppError::Forbidden(NOT_YOURS)),
        OwnOutcome::TooLate => Err(AppError::Forbidden(TOO_LATE)),
        OwnOutcome::Hidden => Err(AppError::Forbidden(HIDDEN_BY_STAFF)),
    }
}

/// Success: `{"message"}` for JSON clients, else back to the comments with `flash`.
pub(super) fn done(reply: Reply, flash: Flash) -> HttpResponse {
    if reply.is_json() {
        return json_message(StatusCode::OK, flash.text());
    }
    let mut response = see_other("/");
    flash.leave(&mut response);
    response
}

fn render_edit_page(
    feed: &CommentFeed,
    csrf: &CsrfToken,
    username: Option<String>,
    comment: &OwnComment,
    draft: &str,
    comment_error: Option<&str>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let until = comment.created_at + feed.edit_window();
    let page = EditPage {
        id: comment.id,
        csrf_token: csrf.form_token(),
        username,
        draft,
        comment_error,
        until: format_time(until),
        until_iso: format_iso(until),
    }
    .render()?;
    Ok(html(status, page))
}
