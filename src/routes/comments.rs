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
        comments::{
            ALREADY_COMMENTED, Comments, InsertOutcome, MEMBER_ALREADY_COMMENTED, normalise_comment,
        },
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

/// The start of the comment throttle's refusal; when to try again follows. The limit is per
/// address, which a whole household, office or phone network may share: it is about the
/// network, not the person.
pub const TOO_MANY_COMMENTS: &str = "Your comment was not posted yet: many comments have come \
    from your network recently (other people on it count too), so posting from it is paused.";

/// A comment form that fails the CSRF check for a reason other than refused cookies: most
/// often it was loaded before the visitor logged in or out in another tab, which changes the
/// token. The form comes back, with the text and a fresh token.
pub const STALE_FORM: &str = "Your comment was not posted yet: this page was loaded before \
    you logged in or out (perhaps in another tab), so it was out of date. Your text is below: \
    check it, then post it again.";

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
            let messages = HomeMessages {
                cookies_refused: true,
                ..Default::default()
            };
            return form_again(&home, &form, StatusCode::FORBIDDEN, messages).await;
        }
        // The form again, with the visitor's text and a token that works now.
        Err(CsrfError::Stale(reason)) if !reply.is_json() => {
            tracing::info!(
                reason,
                "comment form refused by the CSRF check; shown again"
            );
            let messages = HomeMessages {
                error: Some(STALE_FORM),
                ..Default::default()
            };
            return form_again(&home, &form, StatusCode::FORBIDDEN, messages).await;
        }
        Err(err) => return Err(err.into()),
    }
    if session.has_commented() {
        return already_commented(reply, &home, &form, ALREADY_COMMENTED).await;
    }
    let body = match form.body() {
        Ok(body) => body,
        Err(reason) if reply.is_json() => {
            return Ok(json_error(StatusCode::UNPROCESSABLE_ENTITY, reason));
        }
        Err(reason) => {
            let messages = HomeMessages {
                comment_error: Some(reason),
                ..Default::default()
            };
            return form_again(&home, &form, StatusCode::UNPROCESSABLE_ENTITY, messages).await;
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
                    "{TOO_MANY_COMMENTS} You can post it {}.",
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
    if outcome != InsertOutcome::MemberAlreadyCommented {
        // Stored, or this visitor's comment was: either way this session has commented. A
        // member's comment from another browser is theirs, not this visitor's.
        session.mark_commented();
    }
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
            already_commented(reply, &home, &form, ALREADY_COMMENTED).await
        }
        InsertOutcome::MemberAlreadyCommented => {
            slot.not_made().await;
            already_commented(reply, &home, &form, MEMBER_ALREADY_COMMENTED).await
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
            let messages = HomeMessages {
                error: Some(&self.text),
                paused_for: self.retry_after,
                ..Default::default()
            };
            form_again(home, form, self.status, messages).await?
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

/// The comment form again, answered with `status`, holding the text the visitor typed, with
/// `messages` saying why it was not posted.
async fn form_again(
    home: &Home,
    form: &CommentForm,
    status: StatusCode,
    messages: HomeMessages<'_>,
) -> Result<HttpResponse, AppError> {
    let draft = form.typed();
    let messages = HomeMessages {
        draft: &draft,
        ..messages
    };
    home.render(Cursor::Newest, messages, status).await
}

impl CommentForm {
    /// The comment to store, by a comment's rules ([`normalise_comment`]): a form without
    /// the field holds an empty one.
    fn body(&self) -> Result<String, &'static str> {
        normalise_comment(self.comment.as_deref().unwrap_or_default())
    }

    /// The comment given back as typed, but for what a form cannot hold.
    fn typed(&self) -> String {
        as_typed(self.comment.as_deref().unwrap_or_default())
    }
}

/// `typed` as a form can give it back: without control characters but tabs and line breaks.
pub fn as_typed(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .collect()
}

/// This visitor (or the member posting) has a comment already: `text` says so, and the page
/// says what became of that comment, giving back what was typed to copy.
async fn already_commented(
    reply: Reply,
    home: &Home,
    form: &CommentForm,
    text: &'static str,
) -> Result<HttpResponse, AppError> {
    if reply.is_json() {
        return Ok(json_message(StatusCode::CONFLICT, text));
    }
    let draft = form.typed();
    let messages = HomeMessages {
        error: Some(text),
        unposted: Some(draft.as_str()).filter(|draft| !draft.trim().is_empty()),
        ..Default::default()
    };
    home.render(Cursor::Newest, messages, StatusCode::CONFLICT)
        .await
}

#[cfg(test)]
mod tests {
    use actix_web::{FromRequest, test::TestRequest};
    use proptest::prelude::*;

    use super::*;
    use crate::{
        domain::comments::{CONTROL_CHARACTER, EMPTY_COMMENT, MAX_COMMENT_CHARS, TOO_LONG_COMMENT},
        routes::{NOT_UTF8, form_config},
    };

    /// `body` posted as a form and read as the route reads it: the form, or the refusal's
    /// status and message.
    fn read_form(body: impl Into<Vec<u8>>) -> Result<CommentForm, (StatusCode, String)> {
        let (req, mut payload) = TestRequest::post()
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .app_data(form_config())
            .set_payload(body.into())
            .to_http_parts();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(Form::<CommentForm>::from_request(&req, &mut payload))
            .map(Form::into_inner)
            .map_err(|err| (err.as_response_error().status_code(), err.to_string()))
    }

    /// A comment form as a browser encodes it, with `comment` as typed.
    fn posted(comment: &str) -> String {
        serde_urlencoded::to_string([
            ("comment", comment),
            ("csrf_token", "token"),
            ("website", ""),
            ("form_stamp", "stamp"),
        ])
        .unwrap()
    }

    /// What the route makes of a form whose comment is `comment`.
    fn answer(comment: &str) -> Result<String, &'static str> {
        read_form(posted(comment))
            .expect("a well-formed form")
            .body()
    }

    /// A character that is text: neither a control character nor white space.
    fn visible() -> impl Strategy<Value = char> {
        any::<char>().prop_filter("text", |c| !c.is_control() && !c.is_whitespace())
    }

    /// A comment as stored: text that starts and ends with a visible character, with spaces,
    /// tabs and `\n` line breaks between; from one character up to the limit exactly.
    fn stored_comment() -> impl Strategy<Value = String> {
        let separator = prop_oneof![Just(""), Just(" "), Just("\n"), Just("\t"), Just("  \n\n")];
        let words = proptest::collection::vec((separator, visible()), 0..40);
        let short = (visible(), words).prop_map(|(first, rest)| {
            let mut text = first.to_string();
            for (separator, c) in rest {
                text.push_str(separator);
                text.push(c);
            }
            text
        });
        let at_the_limit = visible().prop_map(|c| c.to_string().repeat(MAX_COMMENT_CHARS));
        prop_oneof![4 => short, 1 => at_the_limit]
    }

    proptest! {
        #[test]
        fn a_valid_comment_is_accepted_and_stored_as_typed_but_for_edges_and_line_breaks(
            comment in stored_comment(),
            before in "[ \t\r\n]{0,3}",
            after in "[ \t\r\n]{0,3}",
            windows_line_breaks: bool,
        ) {
            let typed = if windows_line_breaks { comment.replace('\n', "\r\n") } else { comment.clone() };
            prop_assert_eq!(answer(&format!("{before}{typed}{after}")), Ok(comment));
        }

        #[test]
        fn a_blank_or_missing_comment_is_refused_as_empty(blank in "[ \t\r\n]{0,10}") {
            prop_assert_eq!(answer(&blank), Err(EMPTY_COMMENT));
            let without_the_field = read_form("csrf_token=token&website=").unwrap();
            prop_assert_eq!(without_the_field.body(), Err(EMPTY_COMMENT));
        }

        #[test]
        fn a_comment_over_the_limit_is_refused_as_too_long(
            c in visible(),
            over in 1..50usize,
            around in "[ \t\r\n]{0,3}",
        ) {
            let typed = format!("{around}{}{around}", c.to_string().repeat(MAX_COMMENT_CHARS + over));
            prop_assert_eq!(answer(&typed), Err(TOO_LONG_COMMENT));
        }

        #[test]
        fn a_control_character_inside_a_comment_is_refused(
            start in stored_comment(),
            end in stored_comment(),
            control in any::<char>().prop_filter("a control character but tab and line breaks", |c| {
                c.is_control() && !matches!(c, '\t' | '\n' | '\r')
            }),
        ) {
            prop_assert_eq!(answer(&format!("{start}{control}{end}")), Err(CONTROL_CHARACTER));
        }

        #[test]
        fn any_typed_comment_reaches_the_rules_unchanged(
            // Any characters, control characters and white space included (`any::<String>()`
            // has no control characters).
            typed in proptest::collection::vec(any::<char>(), 0..60).prop_map(String::from_iter),
        ) {
            prop_assert_eq!(answer(&typed), normalise_comment(&typed));
        }

        #[test]
        fn a_form_that_is_not_utf8_is_a_bad_request_not_a_changed_comment(
            comment in stored_comment(),
            not_utf8 in prop::sample::select(vec!["%FF", "%C0%AF", "caf%E9", "%C3", "%ED%A0%80"]),
        ) {
            // Within the comment: the encoded text has no `&` of its own.
            let body = posted(&comment).replacen('&', &format!("{not_utf8}&"), 1);
            let refused = read_form(body).map(|form| form.body());
            prop_assert_eq!(refused, Err((StatusCode::BAD_REQUEST, NOT_UTF8.to_owned())));
        }
    }
}
