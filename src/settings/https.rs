//! Behind TLS: `SECURE_HSTS_SECONDS`, `SECURE_HSTS_INCLUDE_SUBDOMAINS`, `SECURE_HSTS_PRELOAD`
//! and `SECURE_SSL_REDIRECT`, with Django's names and defaults (all off).

use super::vars::{SettingsError, Vars};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpsSettings {
    /// `SECURE_HSTS_SECONDS`: the `max-age` of `Strict-Transport-Security` on HTTPS responses;
    /// `0` sends none.
    pub hsts_seconds: u64,
    /// `SECURE_HSTS_INCLUDE_SUBDOMAINS`: adds `includeSubDomains`.
    pub hsts_include_subdomains: bool,
    /// `SECURE_HSTS_PRELOAD`: adds `preload`.
    pub hsts_preload: bool,
    /// `SECURE_SSL_REDIRECT`: plain-HTTP requests get a `301` to the same address over HTTPS.
    pub ssl_redirect: bool,
}

impl HttpsSettings {
    pub(super) fn parse(vars: &Vars) -> Result<Self, SettingsError> {
        Ok(Self {
            hsts_seconds: vars.ranged("SECURE_HSTS_SECONDS", 0, 0, 10 * 365 * 86_400)? as u64,
            hsts_include_subdomains: vars.flag("SECURE_HSTS_INCLUDE_SUBDOMAINS", false)?,
            hsts_preload: vars.flag("SECURE_HSTS_PRELOAD", false)?,
            ssl_redirect: vars.flag("SECURE_SSL_REDIRECT", false)?,
        })
    }

    /// The `Strict-Transport-Security` value, if one is sent at all.
    pub fn hsts_header(&self) -> Option<String> {
        if self.hsts_seconds == 0 {
            return None;
        }
        let mut value = format!("max-age={}", self.hsts_seconds);
        if self.hsts_include_subdomains {
            value.push_str("; includeSubDomains");
        }
        if self.hsts_preload {
            value.push_str("; preload");
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::settings;

    #[test]
    fn hsts_is_off_by_default_and_built_from_the_three_settings() {
        assert_eq!(settings(&[]).unwrap().https.hsts_header(), None);
        let s = settings(&[
            ("SECURE_HSTS_SECONDS", "31536000"),
            ("SECURE_HSTS_INCLUDE_SUBDOMAINS", "true"),
            ("SECURE_HSTS_PRELOAD", "true"),
        ])
        .unwrap();
        assert_eq!(
            s.https.hsts_header().as_deref(),
            Some("max-age=31536000; includeSubDomains; preload")
        );
        let err = settings(&[("SECURE_HSTS_SECONDS", "-1")]).unwrap_err();
        assert_eq!(err.name, "SECURE_HSTS_SECONDS");
    }
}
