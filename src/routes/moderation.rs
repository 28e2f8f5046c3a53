//! Staff moderation on the site: `POST /comments/{id}/hide` and `POST /comments/{id}/unhide`.
//! A hidden comment disappears for everyone but staff; each action is logged with who took it
//! (see [`crate::domain::moderation`]).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{Form, Reply, see_other};
use crate::{
    domain::{
        accounts::Accounts,
        moderation::{Action, Moderated, Moderation, Moderator},
    },
    error::AppError,
    flash::Flash,
    security::csrf::CsrfToken,
    sessions::VisitorSession,
};

pub const STAFF_ONLY: &str = "Only staff can hide and show comments.";

#[derive(Deserialize)]
pub struct ModerationForm {
    /// Django's field name is accepted too, for forms a Django page rendered.
    #[serde(alias = "csrfmiddlewaretoken")]
    csrf_token: Option<String>,
    /// The page the button was on, to go back to.
    back: Option<String>,
}

/// `POST /comments/{id}/hide` and `POST /comments/{id}/unhide` (`action`).
pub async fn moderate_comment(
    req: HttpRequest,
    path: web::Path<(i64, String)>,
    form: Form<ModerationForm>,
    moderation: web::Data<Moderation>,
    accounts: web::Data<Accounts>,
    session: VisitorSession,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    let (id, action) = path.into_inner();
    let (action, flash) = match action.as_str() {
        "hide" => (Action::Hide, Flash::CommentHidden),
        "unhide" => (Action::Unhide, Flash::CommentShown),
        _ => return Err(AppError::NotFound),
    };
    session.require()?;
    csrf.verify(form.csrf_token.as_deref())?;
    let member = accounts
        .refresh_login(&session)
        .await?
        .ok_or(AppError::LoginRequired)?;
    if !member.is_staff {
        return Err(AppError::Forbidden(STAFF_ONLY));
    }
    let by = Moderator::Staff {
        username: &member.username,
        member_id: member.id,
    };
    if moderation.moderate(id, action, by).await? == Moderated::NotFound {
        return Err(AppError::NotFound);
    }
    let reply = Reply::to(&req);
    if reply.is_json() {
        return Ok(reply.done(flash, "/"));
    }
    // The page jumps to the comment: the confirmation is shown there.
    let mut response = see_other(&back_to(form.back.as_deref(), id));
    flash.leave_at_comment(&mut response, id);
    Ok(response)
}

/// The page of comments the button was on (only the pager's own addresses: never somewhere
/// else), at the comment.
fn back_to(back: Option<&str>, id: i64) -> String {
    let page = back
        .and_then(|back| {
            let query = back.strip_prefix("/?")?;
            let (name, value) = query.split_once('=')?;
            let valid = matches!(name, "before" | "after") && value.parse::<i64>().is_ok();
            valid.then(|| back.to_owned())
        })
        .unwrap_or_else(|| "/".to_owned());
    format!("{page}#comment-{id}")
}

#[cfg(test)]
mod tests {
    use super::back_to;

    #[test]
    fn only_the_pagers_addresses_are_gone_back_to() {
        assert_eq!(back_to(Some("/?before=12"), 3), "/?before=12#comment-3");
        assert_eq!(back_to(Some("/?after=7"), 3), "/?after=7#comment-3");
        assert_eq!(back_to(None, 3), "/#comment-3");
        for elsewhere in [
            "https://evil.example/",
            "//evil.example/?before=1",
            "/?before=1&x=2",
            "/?before=x",
            "/account/delete",
        ] {
            assert_eq!(back_to(Some(elsewhere), 3), "/#comment-3", "{elsewhere}");
        }
    }
}
