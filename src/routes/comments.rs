//! `POST /comments`: one comment per visitor, as the tutorial's `post_comment` view, behind
//! the spam trap and the comment throttle.
//!
//! A post passes, in order: the CSRF check, "already commented", the text's own rules, the
//! spam trap (`security::spam_trap`: `422`) and the comment throttle (`security::throttle`:
//! `429`). Nothing is written to the session before the last of them lets the post through,
//! so a refused post leaves no session behind.

use std::time::Duration;

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use serde::Deserialize;

use super::{
    Form, Reply,
    home::{Home, HomeMessages},
    json_error, json_message, see_other,
};
use crate::{
    domain::{
        accounts::Accounts,
        comments::{ALREADY_COMMENTED, Comments, InsertOutcome, normalise_comment},
        feed::Cursor,
    },
    error::{AppError, in_words, retry_after_seconds},
    flash::Flash,
    security::{
        csrf::CsrfError,
        spam_trap,
        throttle::{Throttle, Throttled},
    },
    sessions::VisitorSession,
};

/// The start of the comment throttle's refusal; when to try again follows.
pub const TOO_MANY_COMMENTS: &str = "You have posted too many comments from this address.";

#[derive(Deserialize)]
pub struct CommentForm {
    comment: Option<String>,
    /// Django's field name is accepted too, for forms a Django page rendered.
    #[serde(alias = "csrfmiddlewaretoken")]
    csrf_token: Option<String>,
    /// The spam trap's honeypot: people leave it empty.
    website: Option<String>,
    /// The spam trap's signed time stamp of the form.
    form_stamp: Option<String>,
}

pub async fn post_comment(
    req: HttpRequest,
    form: Form<CommentForm>,
    comments: web::Data<Comments>,
    throttle: web::Data<Throttle>,
    home: Home,
) -> Result<HttpResponse, AppError> {
    let Home {
        accounts,
        session,
        csrf,
        trap,
        ..
    } = &home;
    session.require()?;
    let reply = Reply::to(&req);
    match csrf.verify(form.csrf_token.as_deref()) {
        Ok(()) => {}
        // The form again, saying cookies are needed, with the visitor's text.
        Err(CsrfError::CookiesRefused) if !reply.is_json() => {
            let draft = as_typed(&form);
            let messages = HomeMessages {
                cookies_refused: true,
                draft: &draft,
                ..Default::default()
            };
            return home
                .render(Cursor::Newest, messages, StatusCode::FORBIDDEN)
                .await;
        }
        Err(err) => return Err(err.into()),
    }
    if session.has_commented() {
        return already_commented(reply, &home).await;
    }
    let body = match normalise_comment(form.comment.as_deref().unwrap_or_default()) {
        Ok(body) => body,
        Err(reason) if reply.is_json() => {
            return Ok(json_error(StatusCode::UNPROCESSABLE_ENTITY, reason));
        }
        Err(reason) => {
            let draft = as_typed(&form);
            let messages = HomeMessages {
                comment_error: Some(reason),
                draft: &draft,
                ..Default::default()
            };
            return home
                .render(Cursor::Newest, messages, StatusCode::UNPROCESSABLE_ENTITY)
                .await;
        }
    };
    // The trap, then the throttle: a post caught by the trap takes no place under the limit.
    let caught = trap.check(&req, form.website.as_deref(), form.form_stamp.as_deref());
    if caught.is_err() {
        let refusal = Refusal {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            text: spam_trap::REFUSED.to_owned(),
            retry_after: None,
        };
        return refusal.answer(reply, &home, &form).await;
    }
    let slot = match throttle.comment_attempt(&req).await {
        Ok(slot) => slot,
        Err(Throttled { retry_after }) => {
            let refusal = Refusal {
                status: StatusCode::TOO_MANY_REQUESTS,
                text: format!(
                    "{TOO_MANY_COMMENTS} Please try again {}.",
                    in_words(retry_after)
                ),
                retry_after: Some(retry_after),
            };
            return refusal.answer(reply, &home, &form).await;
        }
    };
    // From here on the session is written (the visitor id, the member's "last seen").
    let outcome = match store(&comments, accounts, session, body).await {
        Ok(outcome) => outcome,
        Err(err) => {
            slot.not_made().await;
            return Err(err);
        }
    };
    session.mark_commented();
    match outcome {
        InsertOutcome::Stored if reply.is_json() => {
            Ok(json_message(StatusCode::CREATED, Flash::Commented.text()))
        }
        InsertOutcome::Stored => {
            let mut response = see_other("/");
            Flash::Commented.leave(&mut response);
            Ok(response)
        }
        // Another request of this session got there first.
        InsertOutcome::AlreadyCommented => {
            slot.not_made().await;
            already_commented(reply, &home).await
        }
    }
}

/// Stores `body` as this visitor's comment, attributed to the member logged in, if any.
async fn store(
    comments: &Comments,
    accounts: &Accounts,
    session: &VisitorSession,
    body: String,
) -> Result<InsertOutcome, AppError> {
    let visitor_id = session.visitor_id();
    let member_id = accounts
        .refresh_login(session)
        .await?
        .map(|member| member.id);
    Ok(comments.post(visitor_id, member_id, body).await?)
}

/// A post refused by the spam trap or the throttle, with what the visitor is told.
struct Refusal {
    status: StatusCode,
    text: String,
    /// When to come back, for `Retry-After`.
    retry_after: Option<Duration>,
}

impl Refusal {
    /// `{"error": ...}` for a JSON client; for a browser the form again with the text it
    /// typed and why it was refused.
    async fn answer(
        self,
        reply: Reply,
        home: &Home,
        form: &CommentForm,
    ) -> Result<HttpResponse, AppError> {
        let mut response = if reply.is_json() {
            json_error(self.status, &self.text)
        } else {
            let draft = as_typed(form);
            let messages = HomeMessages {
                error: Some(&self.text),
                draft: &draft,
                ..Default::default()
            };
            home.render(Cursor::Newest, messages, self.status).await?
        };
        if let Some(wait) = self.retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(retry_after_seconds(wait)),
            );
        }
        Ok(response)
    }
}

/// The comment given back as typed, but for what a form cannot hold.
fn as_typed(form: &CommentForm) -> String {
    form.comment
        .as_deref()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .collect()
}

async fn already_commented(reply: Reply, home: &Home) -> Result<HttpResponse, AppError> {
    if reply.is_json() {
        return Ok(json_message(StatusCode::CONFLICT, ALREADY_COMMENTED));
    }
    let messages = HomeMessages {
        error: Some(ALREADY_COMMENTED),
        ..Default::default()
    };
    home.render(Cursor::Newest, messages, StatusCode::CONFLICT)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn any_form_body_parses_or_is_refused_without_a_panic(body: String) {
            let _ = serde_urlencoded::from_str::<CommentForm>(&body);
        }
    }
}
