//! `/static/...` from inside the binary: `static/` is embedded at compile time, so a binary
//! copied alone anywhere serves a styled site. `STATIC_ROOT` switches to serving a folder
//! from disk instead (`startup` wires actix-files for that), for people who customise assets.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{
    HttpMessage, HttpRequest, HttpResponse,
    http::header::{ContentType, ETag, EntityTag, HttpDate, IfNoneMatch, LastModified},
    web,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rust_embed::Embed;

use crate::error::AppError;

/// The files of `static/`, as they were when the binary was built (also in debug builds).
#[derive(Embed)]
#[folder = "static/"]
struct Assets;

/// One embedded file, with the validators browsers revalidate with: an `ETag` from its
/// content hash, and the `Last-Modified` of the file it was built from.
pub async fn embedded_asset(
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let file = Assets::get(&path).ok_or(AppError::NotFound)?;
    let hash = file.metadata.sha256_hash();
    let etag = EntityTag::new_strong(URL_SAFE_NO_PAD.encode(&hash[..16]));
    let unchanged = match req.get_header::<IfNoneMatch>() {
        Some(IfNoneMatch::Any) => true,
        Some(IfNoneMatch::Items(tags)) => tags.iter().any(|tag| tag.weak_eq(&etag)),
        None => false,
    };
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response.insert_header(ETag(etag));
    if let Some(seconds) = file.metadata.last_modified() {
        let modified = UNIX_EPOCH + Duration::from_secs(seconds);
        response.insert_header(LastModified(HttpDate::from(
            modified.min(SystemTime::now()),
        )));
    }
    if unchanged {
        return Ok(response.finish());
    }
    Ok(response
        .insert_header(ContentType(content_type(file.metadata.mimetype())))
        .body(file.data.into_owned()))
}

/// The file's type, with `charset=utf-8` for text (our text assets are UTF-8).
fn content_type(mimetype: &str) -> actix_web::mime::Mime {
    let parsed: actix_web::mime::Mime = mimetype
        .parse()
        .unwrap_or(actix_web::mime::APPLICATION_OCTET_STREAM);
    if parsed.type_() == actix_web::mime::TEXT || parsed.subtype() == actix_web::mime::SVG {
        format!("{parsed}; charset=utf-8").parse().unwrap_or(parsed)
    } else {
        parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_static_is_embedded_with_its_type() {
        let names: Vec<_> = Assets::iter().collect();
        assert!(names.iter().any(|n| n == "css/site.css"), "{names:?}");
        assert!(names.iter().any(|n| n == "favicon.svg"), "{names:?}");
        let css = Assets::get("css/site.css").unwrap();
        assert_eq!(
            content_type(css.metadata.mimetype()).to_string(),
            "text/css; charset=utf-8"
        );
        assert!(Assets::get("../Cargo.toml").is_none());
    }
}
