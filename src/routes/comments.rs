//! `POST /comments`: one comment per visitor, as the tutorial's `post_comment` view.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use serde::Deserialize;

use super::{Reply, home::HomeMessages, home::render_home, json_error, json_message, see_other};
use crate::{
    accounts::Accounts,
    db::{
        Database,
        comments::{self, Cursor, InsertOutcome},
        models::{NewComment, now_utc},
    },
    error::AppError,
    feed::CommentFeed,
    flash::Flash,
    security::csrf::CsrfToken,
    sessions::VisitorSession,
};

/// The longest comment, in Unicode scalar values.
pub const MAX_COMMENT_CHARS: usize = 2000;
pub const ALREADY_COMMENTED: &str = "You've already commented.";
pub const EMPTY_COMMENT: &str = "Your comment is empty.";
pub const TOO_LONG_COMMENT: &str = "Your comment is too long: 2000 characters at most.";
pub const CONTROL_CHARACTER: &str =
    "The comment contains a control character: only text, tabs and line breaks.";

#[derive(Deserialize)]
pub struct CommentForm {
    comment: Option<String>,
    csrf_token: Option<String>,
}

pub async fn post_comment(
    req: HttpRequest,
    form: web::Form<CommentForm>,
    db: web::Data<Database>,
    feed: web::Data<CommentFeed>,
    accounts: web::Data<Accounts>,
    session: VisitorSession,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    session.require()?;
    let reply = Reply::to(&req);
    match csrf.verify(form.csrf_token.as_deref()) {
        Ok(()) => {}
        // The form again, saying cookies are needed, with the visitor's text.
        Err(AppError::CookiesRefused) if !reply.is_json() => {
            let draft = as_typed(&form);
            let messages = HomeMessages {
                cookies_refused: true,
                draft: &draft,
                ..Default::default()
            };
            let status = StatusCode::FORBIDDEN;
            return render_home(
                &feed,
                &accounts,
                &session,
                &csrf,
                Cursor::Newest,
                messages,
                status,
            )
            .await;
        }
        Err(err) => return Err(err),
    }
    if session.has_commented() {
        return already_commented(reply, &feed, &accounts, &session, &csrf).await;
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
            return render_home(
                &feed,
                &accounts,
                &session,
                &csrf,
                Cursor::Newest,
                messages,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let visitor_id = session.visitor_id();
    let member_id = accounts.signed_in(&session).await?.map(|member| member.id);
    let outcome = db
        .write(move |conn| {
            let comment = NewComment {
                body: &body,
                member_id,
                visitor_id: &visitor_id,
                created_at: now_utc(),
            };
            comments::insert(conn, &comment)
        })
        .await?;
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
            already_commented(reply, &feed, &accounts, &session, &csrf).await
        }
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

async fn already_commented(
    reply: Reply,
    feed: &CommentFeed,
    accounts: &Accounts,
    session: &VisitorSession,
    csrf: &CsrfToken,
) -> Result<HttpResponse, AppError> {
    if reply.is_json() {
        return Ok(json_message(StatusCode::CONFLICT, ALREADY_COMMENTED));
    }
    let messages = HomeMessages {
        error: Some(ALREADY_COMMENTED),
        ..Default::default()
    };
    render_home(
        feed,
        accounts,
        session,
        csrf,
        Cursor::Newest,
        messages,
        StatusCode::CONFLICT,
    )
    .await
}

/// The comment as stored: line breaks normalised to `\n`, trimmed.
///
/// # Errors
/// Why the comment cannot be stored: empty, over [`MAX_COMMENT_CHARS`], or holding control
/// characters other than tabs and line breaks.
pub fn normalise_comment(raw: &str) -> Result<String, &'static str> {
    let body = raw.replace("\r\n", "\n").replace('\r', "\n");
    let body = body.trim();
    if body
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        Err(CONTROL_CHARACTER)
    } else if body.is_empty() {
        Err(EMPTY_COMMENT)
    } else if body.chars().count() > MAX_COMMENT_CHARS {
        Err(TOO_LONG_COMMENT)
    } else {
        Ok(body.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_trimmed_and_line_breaks_normalised() {
        assert_eq!(
            normalise_comment("  hi\r\nthere\rfriend \n").unwrap(),
            "hi\nthere\nfriend"
        );
        assert_eq!(normalise_comment(" \r\n\t "), Err(EMPTY_COMMENT));
        assert_eq!(normalise_comment(""), Err(EMPTY_COMMENT));
    }

    #[test]
    fn control_characters_other_than_tabs_and_line_breaks_are_refused() {
        assert_eq!(normalise_comment("a\0b"), Err(CONTROL_CHARACTER));
        assert_eq!(normalise_comment("bell\u{7}"), Err(CONTROL_CHARACTER));
        assert_eq!(normalise_comment("c1\u{85}here"), Err(CONTROL_CHARACTER));
        assert_eq!(
            normalise_comment("tab\there\r\nnext").unwrap(),
            "tab\there\nnext"
        );
    }

    #[test]
    fn length_is_counted_in_unicode_scalar_values_after_trimming() {
        let exactly = "é".repeat(MAX_COMMENT_CHARS);
        assert_eq!(
            normalise_comment(&format!("  {exactly}  ")).unwrap(),
            exactly
        );
        assert_eq!(
            normalise_comment(&"é".repeat(MAX_COMMENT_CHARS + 1)),
            Err(TOO_LONG_COMMENT)
        );
    }

    proptest::proptest! {
        #[test]
        fn any_form_body_parses_or_is_refused_without_a_panic(body: String) {
            let _ = serde_urlencoded::from_str::<CommentForm>(&body);
        }

        #[test]
        fn a_stored_comment_is_never_empty_long_or_full_of_control_characters(raw: String) {
            if let Ok(body) = normalise_comment(&raw) {
                proptest::prop_assert!(!body.is_empty());
                proptest::prop_assert!(body.chars().count() <= MAX_COMMENT_CHARS);
                proptest::prop_assert!(
                    body.chars().all(|c| !c.is_control() || matches!(c, '\n' | '\t'))
                );
            }
        }
    }
}
