//! A member's own account: `/account/password`, `/account/sessions` (with logging out one
//! session or all the others) and `/account/delete`. Every action checks the session's auth
//! hash first ([`Accounts::refresh_login`]): a session logged out elsewhere cannot act.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, PrimitiveDateTime};

use super::{
    CsrfOnlyForm, Form, Reply, html, json_body, json_error, no_control_characters, see_other,
};
use crate::{
    display::{format_iso, format_time},
    domain::accounts::{
        Accounts, CHANGED_MEANWHILE, EndSession, Member, OthersLoggedOut, PasswordChange,
        WRONG_CURRENT_PASSWORD,
    },
    error::AppError,
    flash::Flash,
    security::{csrf::CsrfToken, throttle::Throttle},
    sessions::{VisitorSession, fields::SessionInfo},
};

pub const THIS_SESSION: &str = "This is the session you are using: log out to end it.";
pub const CANNOT_END_ONE: &str = "This deployment keeps sessions in signed cookies, in each \
    browser only: the server cannot log out one of them. Log out everywhere else instead.";

/// What the two password forms (change password, delete account) show.
struct FormPage<'a> {
    csrf_token: String,
    username: &'a str,
    /// A refusal, shown at the field it is about.
    current_password_error: Option<&'a str>,
    new_password_error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "account_password.html")]
struct PasswordPage<'a> {
    form: FormPage<'a>,
}

#[derive(Template)]
#[template(path = "account_delete.html")]
struct DeletePage<'a> {
    form: FormPage<'a>,
}

/// Which password form a page or a refusal shows.
#[derive(Clone, Copy)]
enum PasswordForm {
    ChangePassword,
    DeleteAccount,
}

impl PasswordForm {
    /// The form for `member`, with `error` when it was refused, as a response with `status`.
    fn render(
        self,
        status: StatusCode,
        csrf: &CsrfToken,
        member: &Member,
        error: Option<&str>,
    ) -> Result<HttpResponse, AppError> {
        // The current password is wrong, or the new one breaks the rule.
        let (current_password_error, new_password_error) = match error {
            Some(reason) if reason != WRONG_CURRENT_PASSWORD => (None, Some(reason)),
            other => (other, None),
        };
        let form = FormPage {
            csrf_token: csrf.form_token(),
            username: &member.username,
            current_password_error,
            new_password_error,
        };
        let body = match self {
            Self::ChangePassword => PasswordPage { form }.render()?,
            Self::DeleteAccount => DeletePage { form }.render()?,
        };
        Ok(html(status, body))
    }

    /// The form page itself: members only, anyone else is sent to the login page.
    async fn page(
        self,
        req: &HttpRequest,
        accounts: &Accounts,
        session: &VisitorSession,
        csrf: &CsrfToken,
    ) -> Result<HttpResponse, AppError> {
        match member_page(req, accounts, session).await? {
            PageVisitor::Member(member) => self.render(StatusCode::OK, csrf, &member, None),
            PageVisitor::SendToLogin => Ok(see_other("/login")),
        }
    }
}

#[derive(Template)]
#[template(path = "account_sessions.html")]
struct SessionsPage<'a> {
    csrf_token: String,
    username: &'a str,
    listable: bool,
    sessions: Vec<SessionRow>,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

/// One session as the page and the JSON list show it.
#[derive(Serialize)]
struct SessionRow {
    id: String,
    current: bool,
    device: String,
    address: String,
    logged_in: String,
    logged_in_iso: String,
    last_seen: String,
    last_seen_iso: String,
}

#[derive(Deserialize)]
pub struct ChangePasswordForm {
    current_password: Option<String>,
    new_password: Option<String>,
    /// Django's field name is accepted too, for forms a Django page rendered.
    #[serde(alias = "csrfmiddlewaretoken")]
    csrf_token: Option<String>,
}

#[derive(Deserialize)]
pub struct EndSessionForm {
    session_id: Option<String>,
    /// Django's field name is accepted too, for forms a Django page rendered.
    #[serde(alias = "csrfmiddlewaretoken")]
    csrf_token: Option<String>,
}

#[derive(Deserialize)]
pub struct DeleteForm {
    current_password: Option<String>,
    /// Django's field name is accepted too, for forms a Django page rendered.
    #[serde(alias = "csrfmiddlewaretoken")]
    csrf_token: Option<String>,
}

/// The member logged in with `session`, checked; for actions, which refuse everyone else.
///
/// An action sent by a session that was logged in lost a race when it is logged in no more:
/// the member's credentials changed meanwhile (the check logs it out, here), or the session
/// itself is gone (another of its requests rotated its key at a password change, or it was
/// ended from elsewhere). That is a `409` that says so; a session that was not logged in gets
/// `401`.
async fn member(accounts: &Accounts, session: &VisitorSession) -> Result<Member, AppError> {
    session.require()?;
    let came_logged_in = session.claimed_member_id().is_some() || session.was_ended_meanwhile();
    match accounts.refresh_login(session).await? {
        Some(member) => Ok(member),
        None if came_logged_in => Err(AppError::Conflict(CHANGED_MEANWHILE)),
        None => Err(AppError::LoginRequired),
    }
}

/// Who asked for a page only a member sees.
enum PageVisitor {
    Member(Member),
    /// Not logged in (or logged out meanwhile), in a browser: the page sends them to log in.
    SendToLogin,
}

/// A page only a member sees: anyone else (a session logged out meanwhile too) is sent to the
/// login page (JSON clients get `401`).
async fn member_page(
    req: &HttpRequest,
    accounts: &Accounts,
    session: &VisitorSession,
) -> Result<PageVisitor, AppError> {
    match member(accounts, session).await {
        Ok(member) => Ok(PageVisitor::Member(member)),
        Err(AppError::LoginRequired | AppError::Conflict(_)) if !Reply::to(req).is_json() => {
            Ok(PageVisitor::SendToLogin)
        }
        Err(AppError::Conflict(_)) => Err(AppError::LoginRequired),
        Err(err) => Err(err),
    }
}

pub async fn password_page(
    req: HttpRequest,
    accounts: web::Data<Accounts>,
    session: VisitorSession,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    PasswordForm::ChangePassword
        .page(&req, &accounts, &session, &csrf)
        .await
}

/// Checks the current password (throttled like a login), sets the new one, keeps this session
/// logged in under a new key and logs out every other one.
pub async fn change_password(
    req: HttpRequest,
    form: Form<ChangePasswordForm>,
    accounts: web::Data<Accounts>,
    throttle: web::Data<Throttle>,
    session: VisitorSession,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    csrf.verify(form.csrf_token.as_deref())?;
    let member = member(&accounts, &session).await?;
    let ChangePasswordForm {
        current_password,
        new_password,
        ..
    } = form.into_inner();
    let (current_password, new_password) = (
        current_password.unwrap_or_default(),
        new_password.unwrap_or_default(),
    );
    no_control_characters("new password", &new_password)?;
    let attempt = throttle.login_attempt(&req, &member.username).await?;
    let outcome = accounts
        .change_password(
            &member,
            Some(current_password),
            new_password,
            Some(&session),
        )
        .await;
    let reply = Reply::to(&req);
    let refusal = match outcome {
        Ok(PasswordChange::Changed(_)) => {
            attempt.succeeded().await;
            return Ok(reply.done(Flash::PasswordChanged, "/"));
        }
        Ok(PasswordChange::WrongCurrentPassword) => {
            attempt.failed().await;
            WRONG_CURRENT_PASSWORD
        }
        Ok(PasswordChange::Invalid(rule)) => {
            attempt.not_made().await;
            rule
        }
        Ok(PasswordChange::ChangedMeanwhile) => {
            attempt.not_made().await;
            return changed_meanwhile(&session);
        }
        Err(err) => {
            attempt.not_made().await;
            return Err(err.into());
        }
    };
    refused(reply, PasswordForm::ChangePassword, &csrf, &member, refusal)
}

/// The member's sessions, this one marked; with signed cookies, a note that they cannot be
/// listed.
pub async fn sessions_page(
    req: HttpRequest,
    accounts: web::Data<Accounts>,
    session: VisitorSession,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    let member = match member_page(&req, &accounts, &session).await? {
        PageVisitor::Member(member) => member,
        PageVisitor::SendToLogin => return Ok(see_other("/login")),
    };
    let flash = Flash::waiting(&req);
    let listed = accounts.sessions_of(&member).await?;
    let listable = listed.is_some();
    let current_key = session.key();
    let current_info = session.info();
    let mut rows: Vec<SessionRow> = match listed {
        Some(sessions) => sessions
            .into_iter()
            .map(|s| {
                let current = Some(&s.key) == current_key.as_ref();
                session_row(s.info, current)
            })
            .collect(),
        // Only this one is known.
        None => current_info
            .into_iter()
            .map(|info| session_row(info, true))
            .collect(),
    };
    // This browser's session first: it is the one the member recognises, and on a phone the
    // list is long.
    rows.sort_by_key(|row| !row.current);
    if Reply::to(&req).is_json() {
        return Ok(json_body(
            StatusCode::OK,
            serde_json::json!({ "listable": listable, "sessions": rows }),
        ));
    }
    let page = SessionsPage {
        csrf_token: csrf.form_token(),
        username: &member.username,
        listable,
        sessions: rows,
        notice: flash.map(Flash::text),
        error: None,
    };
    let mut response = html(StatusCode::OK, page.render()?);
    if flash.is_some() {
        Flash::consume(&mut response);
    }
    Ok(response)
}

/// Logs out one of the member's other sessions, by the id the list shows.
pub async fn end_session(
    req: HttpRequest,
    form: Form<EndSessionForm>,
    accounts: web::Data<Accounts>,
    session: VisitorSession,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    csrf.verify(form.csrf_token.as_deref())?;
    let member = member(&accounts, &session).await?;
    let session_id = form.session_id.as_deref().unwrap_or_default();
    if session_id.is_empty() {
        return Err(AppError::Unprocessable(
            "Say which session to log out (session_id).".into(),
        ));
    }
    let reply = Reply::to(&req);
    match accounts
        .end_session(&member, session_id, session.key().as_deref())
        .await?
    {
        // Already gone is as good as ended: the request is safe to repeat.
        EndSession::Ended | EndSession::NotFound => {
            Ok(reply.done(Flash::SessionEnded, "/account/sessions"))
        }
        EndSession::IsCurrent => Err(AppError::Unprocessable(THIS_SESSION.into())),
        EndSession::CannotEndOne => Err(AppError::Unprocessable(CANNOT_END_ONE.into())),
    }
}

/// Logs out every session of the member but this one, on every engine.
pub async fn end_other_sessions(
    req: HttpRequest,
    form: Form<CsrfOnlyForm>,
    accounts: web::Data<Accounts>,
    session: VisitorSession,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    csrf.verify(form.csrf_token.as_deref())?;
    let member = member(&accounts, &session).await?;
    let flash = match accounts
        .log_out_other_sessions(&member, Some(&session))
        .await?
    {
        OthersLoggedOut::All => Flash::OtherSessionsEnded,
        OthersLoggedOut::OnlyThoseThisSiteWrote => Flash::SessionsThisSiteWroteEnded,
        OthersLoggedOut::ChangedMeanwhile => return changed_meanwhile(&session),
    };
    Ok(Reply::to(&req).done(flash, "/account/sessions"))
}

pub async fn delete_page(
    req: HttpRequest,
    accounts: web::Data<Accounts>,
    session: VisitorSession,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    PasswordForm::DeleteAccount
        .page(&req, &accounts, &session, &csrf)
        .await
}

/// Deletes the member (password required, throttled like a login) and all their sessions.
pub async fn delete_account(
    req: HttpRequest,
    form: Form<DeleteForm>,
    accounts: web::Data<Accounts>,
    throttle: web::Data<Throttle>,
    session: VisitorSession,
    csrf: CsrfToken,
) -> Result<HttpResponse, AppError> {
    csrf.verify(form.csrf_token.as_deref())?;
    let member = member(&accounts, &session).await?;
    let password = form.into_inner().current_password.unwrap_or_default();
    let attempt = throttle.login_attempt(&req, &member.username).await?;
    let verified = match accounts.verify_password(&member, password).await {
        Ok(verified) => verified,
        Err(err) => {
            attempt.not_made().await;
            return Err(err.into());
        }
    };
    let reply = Reply::to(&req);
    if !verified {
        attempt.failed().await;
        let form = PasswordForm::DeleteAccount;
        return refused(reply, form, &csrf, &member, WRONG_CURRENT_PASSWORD);
    }
    attempt.succeeded().await;
    if !accounts.delete_account(&member, Some(&session)).await? {
        return changed_meanwhile(&session);
    }
    Ok(reply.done(Flash::AccountDeleted, "/"))
}

/// A `422`: `reason` as JSON, or on the form again.
fn refused(
    reply: Reply,
    form: PasswordForm,
    csrf: &CsrfToken,
    member: &Member,
    reason: &str,
) -> Result<HttpResponse, AppError> {
    if reply.is_json() {
        return Ok(json_error(StatusCode::UNPROCESSABLE_ENTITY, reason));
    }
    form.render(StatusCode::UNPROCESSABLE_ENTITY, csrf, member, Some(reason))
}

/// Another session changed the member's credentials while this request ran: this session no
/// longer counts, and is logged out now.
fn changed_meanwhile(session: &VisitorSession) -> Result<HttpResponse, AppError> {
    session.log_out();
    Err(AppError::Conflict(CHANGED_MEANWHILE))
}

fn session_row(info: SessionInfo, current: bool) -> SessionRow {
    let at = |seconds: i64| {
        let at = OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        PrimitiveDateTime::new(at.date(), at.time())
    };
    let (logged_in, last_seen) = (at(info.logged_in_at), at(info.last_seen_at));
    SessionRow {
        id: info.id,
        current,
        device: info.device,
        address: info.address.unwrap_or_else(|| "unknown".into()),
        logged_in: format_time(logged_in),
        logged_in_iso: format_iso(logged_in),
        last_seen: format_time(last_seen),
        last_seen_iso: format_iso(last_seen),
    }
}
