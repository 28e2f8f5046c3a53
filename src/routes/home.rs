//! `GET /`: the comments, newest first, the comment form and the login state.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use diesel::Connection as _;
use serde::Deserialize;
use time::{PrimitiveDateTime, macros::format_description};

use super::html;
use crate::{
    accounts::Accounts,
    db::{Database, comments, members},
    error::AppError,
    flash::Flash,
    security::csrf::CsrfToken,
    sessions::VisitorSession,
};

/// Comments per page.
const PAGE_SIZE: i64 = 20;
/// The most pages anyone can ask for; past it the offset scan is not worth serving.
const MAX_PAGE: u32 = 100_000;

#[derive(Deserialize)]
pub struct HomeQuery {
    page: Option<u32>,
}

/// One comment as shown.
pub struct CommentView {
    pub body: String,
    pub author: String,
    pub posted_at: String,
    pub posted_at_iso: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    csrf_token: String,
    username: Option<String>,
    comments: Vec<CommentView>,
    show_form: bool,
    /// This visitor has left their comment: a note stands where the form was.
    commented: bool,
    sessions_enabled: bool,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    comment_error: Option<&'a str>,
    cookies_refused: bool,
    draft: &'a str,
    older_page: Option<u32>,
    newer_page: Option<u32>,
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

pub async fn show_home(
    req: HttpRequest,
    query: web::Query<HomeQuery>,
    db: web::Data<Database>,
    accounts: web::Data<Accounts>,
    session: VisitorSession,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    let page = query.page.unwrap_or(1);
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(AppError::BadRequest(format!(
            "page must be a number from 1 to {MAX_PAGE}"
        )));
    }
    let flash = Flash::waiting(&req);
    let messages = HomeMessages {
        notice: flash.map(Flash::text),
        ..Default::default()
    };
    let mut response = render_home(
        &db,
        &accounts,
        &session,
        &csrf,
        page,
        messages,
        StatusCode::OK,
    )
    .await?;
    if flash.is_some() {
        Flash::consume(&mut response);
    }
    Ok(response)
}

/// The home page with `status`: also the answer to a refused comment (409, 422).
///
/// # Errors
/// When the database fails or the template cannot render.
pub async fn render_home(
    db: &Database,
    accounts: &Accounts,
    session: &VisitorSession,
    csrf: &CsrfToken,
    page: u32,
    messages: HomeMessages<'_>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let member_id = session.claimed_member_id();
    let offset = i64::from(page - 1) * PAGE_SIZE;
    // One trip to the blocking pool for everything the page shows.
    let (mut rows, member) = db
        .read(move |conn| {
            // One read transaction for both reads: one lock round-trip, one snapshot.
            conn.transaction(|conn| {
                let rows = comments::newest_first(conn, PAGE_SIZE + 1, offset)?;
                let member = match member_id {
                    Some(id) => members::find(conn, id)?,
                    None => None,
                };
                Ok((rows, member))
            })
        })
        .await?;
    // Checked against the member's credentials now: logged out here if they changed.
    let username = accounts
        .confirm(session, member)
        .map(|member| member.username);
    let has_older = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let page_html = HomePage {
        csrf_token: csrf.form_token(),
        username,
        comments: rows
            .into_iter()
            .map(|row| CommentView {
                body: row.body,
                author: match (row.author, row.by_former_member) {
                    (Some(username), _) => username,
                    (None, true) => "a former member".into(),
                    (None, false) => "Anonymous".into(),
                },
                posted_at: format_time(row.created_at),
                posted_at_iso: format_iso(row.created_at),
            })
            .collect(),
        show_form: session.is_enabled() && !session.has_commented(),
        commented: session.is_enabled() && session.has_commented(),
        sessions_enabled: session.is_enabled(),
        notice: messages.notice,
        error: messages.error,
        comment_error: messages.comment_error,
        cookies_refused: messages.cookies_refused,
        draft: messages.draft,
        older_page: has_older.then_some(page + 1),
        newer_page: (page > 1).then(|| page - 1),
    }
    .render()?;
    Ok(html(status, page_html))
}

pub(super) fn format_time(at: PrimitiveDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute] UTC"
    ))
    .unwrap_or_default()
}

pub(super) fn format_iso(at: PrimitiveDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_default()
}
