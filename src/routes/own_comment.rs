//! An author's own comment: `GET`/`POST /comments/{id}/edit` and `GET`/`POST
//! /comments/{id}/delete` (the `GET`s are the form and the confirmation).
//!
//! Who may change a comment, and until when, is the domain's ([`crate::domain::comments`]):
//! the author, recognised by the session's visitor id, for `COMMENT_EDIT_WINDOW` after
//! posting. Deleting the comment leaves `has_commented` (and the comment's visitor id) as they
//! were: no second comment.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;

use super::{CsrfOnlyForm, Form, Reply, home::Home, html, json_error};
use crate::{
    db::models::now_utc,
    display::Deadline,
    domain::comments::{Change, Comments, OwnComment, normalise_comment},
    error::AppError,
    flash::Flash,
    security::csrf::CsrfError,
    sessions::VisitorSession,
};

/// An edit form that fails the CSRF check only because it is out of date (see
/// [`super::comments::STALE_FORM`]): the form comes back with the text and a fresh token.
pub const STALE_EDIT: &str = "Your changes were not saved yet: this page was loaded before you \
    logged in or out (perhaps in another tab), so it was out of date. They are below: check \
    them, then save again.";

#[derive(Deserialize)]
pub struct EditForm {
    comment: Option<String>,
    /// Django's field name is accepted too, for forms a Django page rendered.
    #[serde(alias = "csrfmiddlewaretoken")]
    csrf_token: Option<String>,
}

impl EditForm {
    /// The text given back as typed, but for what a form cannot hold.
    fn typed(&self) -> String {
        super::comments::as_typed(self.comment.as_deref().unwrap_or_default())
    }
}

/// What both of the author's pages show.
struct OwnPage<'a> {
    id: i64,
    csrf_token: String,
    username: Option<String>,
    /// Until when the comment may be changed.
    until: Deadline,
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
    comments: web::Data<Comments>,
    home: Home,
) -> Result<HttpResponse, AppError> {
    let comment = own_comment(&comments, &home, path.into_inner(), Change::Edit).await?;
    let page = own_page(&home, &comments, &comment, &comment.body).await?;
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
    comments: web::Data<Comments>,
    home: Home,
) -> Result<HttpResponse, AppError> {
    home.session.require()?;
    let reply = Reply::to(&req);
    let stale = match home.csrf.verify(form.csrf_token.as_deref()) {
        Ok(()) => false,
        // A form loaded before a login or logout in another tab: shown again, text and all.
        Err(CsrfError::Stale(_)) if !reply.is_json() => true,
        Err(err) => return Err(err.into()),
    };
    let comment = own_comment(&comments, &home, path.into_inner(), Change::Edit).await?;
    if stale {
        return edit_again(
            &home,
            &comments,
            &comment,
            &form,
            StatusCode::FORBIDDEN,
            STALE_EDIT,
        )
        .await;
    }
    let body = match normalise_comment(form.comment.as_deref().unwrap_or_default()) {
        Ok(body) => body,
        Err(reason) if reply.is_json() => {
            return Ok(json_error(StatusCode::UNPROCESSABLE_ENTITY, reason));
        }
        Err(reason) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return edit_again(&home, &comments, &comment, &form, status, reason).await;
        }
    };
    // Saved as it was: nothing to write, and nothing "edited".
    if body != comment.body {
        comments
            .edit_own(comment.id, author(&home.session), body)
            .await?;
    }
    Ok(reply.done(Flash::CommentUpdated, "/"))
}

/// The edit form again, answered with `status`, holding the text as typed and saying why it
/// was not saved.
async fn edit_again(
    home: &Home,
    comments: &Comments,
    comment: &OwnComment,
    form: &EditForm,
    status: StatusCode,
    reason: &str,
) -> Result<HttpResponse, AppError> {
    let typed = form.typed();
    let edit = EditPage {
        page: own_page(home, comments, comment, &typed).await?,
        comment_error: Some(reason),
    };
    Ok(html(status, edit.render()?))
}

/// Asks the visitor to confirm deleting their own comment (which cannot be undone).
pub async fn delete_page(
    path: web::Path<i64>,
    comments: web::Data<Comments>,
    home: Home,
) -> Result<HttpResponse, AppError> {
    let comment = own_comment(&comments, &home, path.into_inner(), Change::Delete).await?;
    let page = DeletePage {
        page: own_page(&home, &comments, &comment, &comment.body).await?,
    };
    Ok(html(StatusCode::OK, page.render()?))
}

/// Deletes the visitor's own comment.
pub async fn delete_comment(
    req: HttpRequest,
    path: web::Path<i64>,
    form: Form<CsrfOnlyForm>,
    comments: web::Data<Comments>,
    home: Home,
) -> Result<HttpResponse, AppError> {
    home.session.require()?;
    home.csrf.verify(form.csrf_token.as_deref())?;
    comments
        .delete_own(path.into_inner(), author(&home.session))
        .await?;
    Ok(Reply::to(&req).done(Flash::CommentDeleted, "/"))
}

/// Comment `id`, when this visitor may make `change` to it now.
async fn own_comment(
    comments: &Comments,
    home: &Home,
    id: i64,
    change: Change,
) -> Result<OwnComment, AppError> {
    home.session.require()?;
    Ok(comments
        .own_comment(id, &author(&home.session), change)
        .await?)
}

/// What the author's pages show of `comment`, with `text`.
async fn own_page<'a>(
    home: &Home,
    comments: &Comments,
    comment: &OwnComment,
    text: &'a str,
) -> Result<OwnPage<'a>, AppError> {
    let username = home.accounts.refresh_login(&home.session).await?;
    let until = comments.editable_until(comment);
    Ok(OwnPage {
        id: comment.id,
        csrf_token: home.csrf.form_token(),
        username: username.map(|member| member.username),
        until: Deadline::new(until, now_utc()),
        text,
    })
}

/// The visitor id this session posted with; none (matching no comment) when it has not.
fn author(session: &VisitorSession) -> String {
    session.author_id().unwrap_or_default()
}
