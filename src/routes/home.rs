//! `GET /`: the comments, newest first, the comment form and the login state.

use std::{
    future::{Ready, ready},
    time::Duration,
};

use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;

use super::html;
use crate::{
    db::models::now_utc,
    display::Deadline,
    domain::{
        accounts::Accounts,
        comments::{Comments, LeftState, YourComment},
        feed::{CommentFeed, Cursor, Viewer},
    },
    error::{AppError, retry_after_seconds},
    flash::Flash,
    security::{csrf::CsrfToken, spam_trap::SpamTrap},
    sessions::VisitorSession,
};

/// Which comments to show: the newest (neither), those older than comment `before`, or those
/// newer than comment `after` (the pager's links).
#[derive(Deserialize)]
pub struct HomeQuery {
    before: Option<i64>,
    after: Option<i64>,
}

impl HomeQuery {
    fn cursor(&self) -> Result<Cursor, AppError> {
        match (self.before, self.after) {
            (None, None) => Ok(Cursor::Newest),
            (Some(id), None) => Ok(Cursor::Before(id)),
            (None, Some(id)) => Ok(Cursor::After(id)),
            (Some(_), Some(_)) => Err(AppError::BadRequest(
                "ask for comments before one comment or after one, not both".into(),
            )),
        }
    }
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    csrf_token: String,
    /// The comment form's signed time stamp (the spam trap's).
    form_stamp: String,
    username: Option<String>,
    /// The rendered comment list (escaped when it was rendered).
    comment_list: &'a str,
    /// The newest comments: the form, or what became of the visitor's comment, is on it.
    newest: bool,
    show_form: bool,
    /// What became of the comment this visitor (or member) left.
    your_comment: Option<YourCommentView>,
    /// The session says this visitor commented, and their comment is nowhere to be found.
    commented: bool,
    sessions_enabled: bool,
    notice: Option<&'a str>,
    welcome: bool,
    error: Option<&'a str>,
    comment_error: Option<&'a str>,
    cookies_refused: bool,
    draft: &'a str,
    unposted: Option<&'a str>,
    /// Seconds until posting is open again: the button waits (site.js).
    paused_seconds: Option<u64>,
}

/// What the home page says about the visitor's own comment.
struct YourCommentView {
    id: i64,
    state: LeftState,
    from_this_browser: bool,
    /// Until when it can still be edited (or, hidden, deleted) from here.
    changeable: Option<Deadline>,
}

impl YourCommentView {
    fn of(yours: YourComment) -> Self {
        let now = now_utc();
        Self {
            id: yours.id,
            state: yours.state,
            from_this_browser: yours.from_this_browser,
            changeable: yours
                .changeable_until
                .map(|until| Deadline::new(until, now)),
        }
    }
}

/// What the home page should say beyond the comments.
#[derive(Default)]
pub struct HomeMessages<'a> {
    /// A success message (a flash).
    pub notice: Option<&'a str>,
    /// Why the last action was refused.
    pub error: Option<&'a str>,
    /// Why the comment itself was refused (empty, too long): shown at the field.
    pub comment_error: Option<&'a str>,
    /// The comment came without cookies: the form says cookies are needed.
    pub cookies_refused: bool,
    /// The comment the visitor typed, kept in the form when it was refused, so nothing is
    /// lost.
    pub draft: &'a str,
    /// The comment the visitor typed when it cannot be posted at all (they have commented
    /// already): given back to copy, outside any form.
    pub unposted: Option<&'a str>,
    /// Posting is paused for this long (the comment throttle).
    pub paused_for: Option<Duration>,
    /// A new member: welcome them by name.
    pub welcome: bool,
    /// The comment `notice` is about: staff see it there.
    pub notice_at_comment: Option<i64>,
}

/// What the home page is made of, taken from the request: also what a form that answers with
/// the home page (a refused comment) needs, and the comment's own pages.
pub struct Home {
    pub feed: web::Data<CommentFeed>,
    pub accounts: web::Data<Accounts>,
    pub comments: web::Data<Comments>,
    pub session: VisitorSession,
    pub csrf: CsrfToken,
    /// Stamps the comment form.
    pub trap: web::Data<SpamTrap>,
}

impl FromRequest for Home {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready((|| {
            Ok(Self {
                feed: web::Data::from_request(req, payload).into_inner()?,
                accounts: web::Data::from_request(req, payload).into_inner()?,
                comments: web::Data::from_request(req, payload).into_inner()?,
                session: VisitorSession::from_request(req, payload).into_inner()?,
                csrf: CsrfToken::from_request(req, payload).into_inner()?,
                trap: web::Data::from_request(req, payload).into_inner()?,
            })
        })())
    }
}

pub async fn show_home(
    req: HttpRequest,
    query: web::Query<HomeQuery>,
    home: Home,
) -> Result<HttpResponse, AppError> {
    let cursor = query.cursor()?;
    let flash = Flash::waiting(&req);
    let messages = HomeMessages {
        notice: flash.map(Flash::text),
        welcome: flash == Some(Flash::SignedUp),
        notice_at_comment: Flash::comment(&req),
        ..Default::default()
    };
    let mut response = home.render(cursor, messages, StatusCode::OK).await?;
    if flash.is_some() {
        Flash::consume(&mut response);
    }
    Ok(response)
}

impl Home {
    /// The home page at `cursor` with `status`: also the answer to a refused comment (409,
    /// 422, 429). Its comment form carries a fresh stamp.
    ///
    /// # Errors
    /// When the database fails or the template cannot render.
    pub async fn render(
        &self,
        cursor: Cursor,
        messages: HomeMessages<'_>,
        status: StatusCode,
    ) -> Result<HttpResponse, AppError> {
        let Self {
            feed,
            accounts,
            comments,
            session,
            csrf,
            trap,
        } = self;
        let csrf_token = csrf.form_token();
        let mut viewer = Viewer {
            author: session.author_id(),
            staff: false,
            csrf_token: &csrf_token,
            notice: None,
        };
        // The member is checked against their credentials now (logged out here if they
        // changed), while the comment list and the visitor's own comment are fetched (the
        // member's, from any browser, counts only if the check passes); staff, rarely, have
        // their list fetched again.
        let claimed_member = session.claimed_member_id();
        let own_comment = async {
            if !session.is_enabled() || (viewer.author.is_none() && claimed_member.is_none()) {
                return Ok(None);
            }
            comments
                .left_by(viewer.author.clone(), claimed_member)
                .await
        };
        let (list, member, yours) = tokio::join!(
            feed.page(cursor, &viewer),
            accounts.refresh_login(session),
            own_comment
        );
        let (mut list, member, mut yours) = (list?, member?, yours?);
        if member.is_none() {
            yours = yours.filter(|yours| yours.from_this_browser);
        }
        let mut notice = messages.notice;
        if member.as_ref().is_some_and(|member| member.is_staff) {
            viewer.staff = true;
            viewer.notice = messages.notice_at_comment.zip(notice);
            list = feed.page(cursor, &viewer).await?;
            if let Some((id, _)) = viewer.notice
                && list.shows_comment(id)
            {
                // Said at the comment, where the page jumps to.
                notice = None;
            }
        }
        let username = member.map(|member| member.username);
        let commented = session.is_enabled() && session.has_commented();
        let page_html = HomePage {
            csrf_token,
            form_stamp: trap.stamp(),
            username,
            comment_list: list.as_str(),
            newest: cursor == Cursor::Newest,
            show_form: session.is_enabled() && !commented && yours.is_none(),
            commented: commented && yours.is_none(),
            your_comment: yours.map(YourCommentView::of),
            sessions_enabled: session.is_enabled(),
            notice,
            welcome: messages.welcome,
            error: messages.error,
            comment_error: messages.comment_error,
            cookies_refused: messages.cookies_refused,
            draft: messages.draft,
            unposted: messages.unposted,
            paused_seconds: messages.paused_for.map(retry_after_seconds),
        }
        .render()?;
        Ok(html(status, page_html))
    }
}
