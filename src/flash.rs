//! One-time messages shown on the next page ("Thanks for your comment!").
//!
//! They travel in their own short-lived cookie, not in the session, so that a message can
//! outlive a session that was just ended (logout) and never causes a session write. The
//! cookie holds only a code from this fixed list; a forged value shows nothing.

use actix_web::{
    HttpRequest, HttpResponse,
    cookie::{Cookie, SameSite, time::Duration},
};

const COOKIE_NAME: &str = "messages";

/// The messages a redirect can leave for the next page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flash {
    Commented,
    LoggedIn,
    /// A new member: the home page welcomes them by name.
    SignedUp,
    LoggedOut,
    PasswordChanged,
    SessionEnded,
    OtherSessionsEnded,
    /// Beside a Django site: not every other session could be ended.
    SessionsThisSiteWroteEnded,
    AccountDeleted,
    CommentUpdated,
    CommentDeleted,
    CommentHidden,
    CommentShown,
}

impl Flash {
    pub const fn text(self) -> &'static str {
        match self {
            Self::Commented => "Thanks for your comment!",
            Self::LoggedIn => "You're logged in.",
            Self::SignedUp => "Welcome! Your account is made, and you're logged in.",
            Self::LoggedOut => "You're logged out.",
            Self::PasswordChanged => {
                "Your password was changed, and your other sessions were logged out."
            }
            Self::SessionEnded => "That session is logged out.",
            Self::OtherSessionsEnded => "Your other sessions are logged out.",
            Self::SessionsThisSiteWroteEnded => {
                "The sessions this site started are logged out. Sessions started on the Django \
                 site, and those kept in cookies, end when you change your password."
            }
            Self::AccountDeleted => "Your account was deleted.",
            Self::CommentUpdated => "Your comment was updated.",
            Self::CommentDeleted => "Your comment was deleted.",
            Self::CommentHidden => "The comment is hidden: only staff see it now.",
            Self::CommentShown => "The comment is shown again.",
        }
    }

    const fn code(self) -> &'static str {
        match self {
            Self::Commented => "commented",
            Self::LoggedIn => "logged_in",
            Self::SignedUp => "signed_up",
            Self::LoggedOut => "logged_out",
            Self::PasswordChanged => "password_changed",
            Self::SessionEnded => "session_ended",
            Self::OtherSessionsEnded => "other_sessions_ended",
            Self::SessionsThisSiteWroteEnded => "sessions_this_site_wrote_ended",
            Self::AccountDeleted => "account_deleted",
            Self::CommentUpdated => "comment_updated",
            Self::CommentDeleted => "comment_deleted",
            Self::CommentHidden => "comment_hidden",
            Self::CommentShown => "comment_shown",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        [
            Self::Commented,
            Self::LoggedIn,
            Self::SignedUp,
            Self::LoggedOut,
            Self::PasswordChanged,
            Self::SessionEnded,
            Self::OtherSessionsEnded,
            Self::SessionsThisSiteWroteEnded,
            Self::AccountDeleted,
            Self::CommentUpdated,
            Self::CommentDeleted,
            Self::CommentHidden,
            Self::CommentShown,
        ]
        .into_iter()
        .find(|f| f.code() == code)
    }

    /// Leaves this message for the next page the browser loads.
    pub fn leave(self, response: &mut HttpResponse) {
        Self::set(response, self.code().to_owned());
    }

    /// Leaves this message for the next page, to be shown at comment `id` (a moderator's
    /// confirmation, where their eye is after the page jumps to the comment).
    pub fn leave_at_comment(self, response: &mut HttpResponse, id: i64) {
        Self::set(response, format!("{}.{id}", self.code()));
    }

    fn set(response: &mut HttpResponse, value: String) {
        let cookie = Cookie::build(COOKIE_NAME, value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .max_age(Duration::minutes(5))
            .finish();
        // Adding a cookie fails only for values that cannot be headers; ours are fixed words
        // and digits.
        let _ = response.add_cookie(&cookie);
    }

    /// The message waiting for this request, if any; pair with [`Flash::consume`].
    pub fn waiting(req: &HttpRequest) -> Option<Self> {
        Self::read(req)?.0
    }

    /// The comment the waiting message is about ([`Flash::leave_at_comment`]), if any.
    pub fn comment(req: &HttpRequest) -> Option<i64> {
        Self::read(req)?.1
    }

    /// The message cookie's code and, after a `.`, the comment it is about.
    fn read(req: &HttpRequest) -> Option<(Option<Self>, Option<i64>)> {
        let cookie = req.cookie(COOKIE_NAME)?;
        let (code, comment) = match cookie.value().split_once('.') {
            Some((code, id)) => (code, id.parse().ok()),
            None => (cookie.value(), None),
        };
        Some((Self::from_code(code), comment))
    }

    /// Removes the message cookie, so the message shows once.
    pub fn consume(response: &mut HttpResponse) {
        let mut cookie = Cookie::build(COOKIE_NAME, "").path("/").finish();
        cookie.make_removal();
        let _ = response.add_cookie(&cookie);
    }
}
