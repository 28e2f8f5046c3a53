//! The rules every engine shares, applied once around every request (Django's
//! `SessionMiddleware.process_response`, in the part actix-session leaves to us).

use actix_session::{SessionExt, SessionStatus};
use actix_web::{
    HttpMessage,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};

use crate::{
    cookie::ExpireAtBrowserClose,
    engine::SessionEngine,
    typed::{browser_close_choice, holds_unreserved_data},
};

/// Middleware inside the session middleware, applying the rules every engine shares:
///
/// - a changed session that cannot be stored at all (too large for a cookie) is not saved,
///   and the request fails with [`SessionTooLarge`](crate::stores::signed_cookies::SessionTooLarge)
///   (a `500`; the application may render it as it likes);
/// - a request that failed on our side (any 5xx) leaves the stored session as it was;
/// - a changed session left with nothing but reserved (`_`) keys (but for a Django login,
///   `_auth_user_id`) is ended: its record deleted and its cookie removed;
/// - the session's choice of cookie lifetime is passed out to
///   [`session_cookie_rules`](crate::cookie::session_cookie_rules).
///
/// # Errors
/// Only what the inner service fails with.
pub async fn finish_session(
    engine: web::Data<SessionEngine>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let res = next.call(req).await?;
    let session = res.request().get_session();
    let changed = matches!(
        session.status(),
        SessionStatus::Changed | SessionStatus::Renewed
    );
    let refused = (changed && !res.status().is_server_error())
        .then(|| engine.refuses(&session.entries()))
        .flatten();
    let res = match refused {
        Some(too_large) => {
            tracing::error!(error = %too_large, "session not saved");
            res.error_response(too_large).map_into_right_body()
        }
        None => res.map_into_left_body(),
    };
    let lifetime = ExpireAtBrowserClose(browser_close_choice(&session));
    if res.status().is_server_error() {
        // actix-session reads the pending changes from the request's extensions; without
        // them it sees an unchanged session and writes nothing.
        res.request().extensions_mut().clear();
    } else if changed && !holds_unreserved_data(&session) {
        session.purge();
    }
    res.request().extensions_mut().insert(lifetime);
    Ok(res)
}
