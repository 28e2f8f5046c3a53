//! `GET /`: the comments, newest first, the comment form and the login state.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;

use super::html;
use crate::{
    domain::{
        accounts::Accounts,
        feed::{CommentFeed, Cursor, Viewer},
    },
    error::AppError,
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
    show_form: bool,
    /// This visitor has left their comment: a note stands where the form was.
    commented: bool,
    sessions_enabled: bool,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    comment_error: Option<&'a str>,
    cookies_refused: bool,
    draft: &'a str,
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
    /// The comment the visitor typed, kept when it was refused, so nothing is lost.
    pub draft: &'a str,
}

/// What the home page is made of, taken from the request: also what a form that answers with
/// the home page (a refused comment) needs, and the comment's own pages.
pub struct Home {
    pub feed: web::Data<CommentFeed>,
    pub accounts: web::Data<Accounts>,
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
            session,
            csrf,
            trap,
        } = self;
        let csrf_token = csrf.form_token();
        let mut viewer = Viewer {
            author: session.author_id(),
            staff: false,
            csrf_token: &csrf_token,
        };
        // The member is checked against their credentials now (logged out here if they
        // changed), while the comment list is fetched; staff, rarely, have theirs fetched
        // again.
        let (list, member) =
            tokio::join!(feed.page(cursor, &viewer), accounts.refresh_login(session));
        let (mut list, member) = (list?, member?);
        if member.as_ref().is_some_and(|member| member.is_staff) {
            viewer.staff = true;
            list = feed.page(cursor, &viewer).await?;
        }
        let username = member.map(|member| member.username);
        let page_html = HomePage {
            csrf_token,
            form_stamp: trap.stamp(),
            username,
            comment_list: list.as_str(),
            show_form: session.is_enabled() && !session.has_commented(),
            commented: session.is_enabled() && session.has_commented(),
            sessions_enabled: session.is_enabled(),
            notice: messages.notice,
            error: messages.error,
            comment_error: messages.comment_error,
            cookies_refused: messages.cookies_refused,
            draft: messages.draft,
        }
        .render()?;
        Ok(html(status, page_html))
    }
}
