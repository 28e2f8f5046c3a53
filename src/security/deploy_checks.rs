//! Django's deployment checks (`manage.py check --deploy`) that apply here, with Django's ids,
//! and two of the guestbook's own, for `guestbook check --deploy`. Each names a setting that
//! is right on a laptop and wrong on the Internet; docs/deploying.md's settings pass them all.

use std::collections::BTreeSet;

use crate::settings::{AllowedHosts, SecretKey, Settings};

/// One setting to change before the site faces the Internet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployWarning {
    /// Django's id (`security.W004`) where Django has the check, else `guestbook.W...`.
    pub id: &'static str,
    pub message: String,
}

/// Django's shortest acceptable `SECRET_KEY` (`security.W009`): 50 characters, at least 5
/// of them different. Ours must be 32 bytes to start at all; a deployed one should be longer.
const SECRET_KEY_MIN_LENGTH: usize = 50;
const SECRET_KEY_MIN_UNIQUE_CHARACTERS: usize = 5;

/// The deployment warnings for `settings`, in Django's order; empty when it is ready.
pub fn deploy_warnings(settings: &Settings) -> Vec<DeployWarning> {
    let mut warnings = Vec::new();
    let mut warn = |id, message: &str| {
        warnings.push(DeployWarning {
            id,
            message: message.to_owned(),
        });
    };
    let https = &settings.https;
    if https.hsts_seconds == 0 {
        warn(
            "security.W004",
            "SECURE_HSTS_SECONDS is 0, so browsers are not told to use HTTPS only. Once the site \
             is served over HTTPS alone, set it (start small: browsers remember it for that long).",
        );
    } else if !https.hsts_include_subdomains {
        warn(
            "security.W005",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS is false, so the site's subdomains may still be \
             reached over plain HTTP. Set it true once every subdomain serves HTTPS.",
        );
    }
    if !https.ssl_redirect {
        warn(
            "security.W008",
            "SECURE_SSL_REDIRECT is false, so a plain-HTTP request is served as it is. Set it \
             true (behind a proxy, with TRUSTED_PROXIES naming it), unless the proxy redirects \
             HTTP to HTTPS itself.",
        );
    }
    let security = &settings.security;
    if security.secret_key.as_ref().is_some_and(weak_secret_key) {
        warn(
            "security.W009",
            "SECRET_KEY has fewer than 50 characters or fewer than 5 different ones. Generate a \
             long random one, e.g. `openssl rand -base64 48`.",
        );
    }
    let session = &settings.session;
    if !session.cookie_secure {
        warn(
            "security.W012",
            "SESSION_COOKIE_SECURE is false, so the session cookie also travels over plain \
             HTTP, where anyone on the path can read it and take over the session. Set it true.",
        );
    }
    if !session.cookie_httponly {
        warn(
            "security.W013",
            "SESSION_COOKIE_HTTPONLY is false, so scripts on the page (an injected one too) can \
             read the session cookie. Set it true.",
        );
    }
    if !security.csrf_cookie_secure {
        warn(
            "security.W016",
            "CSRF_COOKIE_SECURE is false, so the CSRF cookie also travels over plain HTTP. Set \
             it true (it follows SESSION_COOKIE_SECURE when unset).",
        );
    }
    if matches!(security.allowed_hosts, AllowedHosts::Any) {
        warn(
            "guestbook.W001",
            "ALLOWED_HOSTS is *, so the site answers any Host header, and links and redirects \
             built from it can be poisoned. List the names the site is reached by.",
        );
    }
    if security
        .trusted_proxies
        .iter()
        .any(|network| network.prefix_len() == 0)
    {
        warn(
            "guestbook.W002",
            "TRUSTED_PROXIES includes every address (/0), so any client can set \
             X-Forwarded-For and X-Forwarded-Proto: its address in the logs and throttles, and \
             whether it came over HTTPS. List only the proxies' addresses.",
        );
    }
    if security.secret_key_fallbacks.iter().any(weak_secret_key) {
        warn(
            "security.W025",
            "A key in SECRET_KEY_FALLBACKS has fewer than 50 characters or fewer than 5 \
             different ones.",
        );
    }
    warnings
}

fn weak_secret_key(key: &SecretKey) -> bool {
    let bytes = key.as_bytes();
    let different: BTreeSet<&u8> = bytes.iter().collect();
    bytes.len() < SECRET_KEY_MIN_LENGTH || different.len() < SECRET_KEY_MIN_UNIQUE_CHARACTERS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        Settings::from_lookup(|name| {
            vars.iter()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| (*value).to_owned())
        })
        .expect("valid settings")
    }

    fn ids(vars: &[(&str, &str)]) -> Vec<&'static str> {
        deploy_warnings(&settings(vars))
            .into_iter()
            .map(|warning| warning.id)
            .collect()
    }

    const READY: &[(&str, &str)] = &[
        (
            "SECRET_KEY",
            "vYq3T0k9rW2pL8xN5bC7mZ1aD4fG6hJ0sQ2wE4rT6yU8iO0pA2sD4fG6hJ8kL0z",
        ),
        ("SESSION_COOKIE_SECURE", "true"),
        ("SECURE_HSTS_SECONDS", "31536000"),
        ("SECURE_HSTS_INCLUDE_SUBDOMAINS", "true"),
        ("SECURE_SSL_REDIRECT", "true"),
        ("ALLOWED_HOSTS", "guestbook.example.com"),
        ("TRUSTED_PROXIES", "10.0.0.0/8"),
    ];

    fn ready_but(changes: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut vars: Vec<_> = READY
            .iter()
            .filter(|(name, _)| !changes.iter().any(|(changed, _)| changed == name))
            .copied()
            .collect();
        vars.extend_from_slice(changes);
        vars
    }

    #[test]
    fn the_defaults_are_for_a_laptop_and_say_so() {
        assert_eq!(
            ids(&[]),
            [
                "security.W004",
                "security.W008",
                "security.W012",
                "security.W016"
            ]
        );
    }

    #[test]
    fn a_site_ready_for_the_internet_has_no_warning() {
        assert_eq!(ids(READY), Vec::<&str>::new());
    }

    #[test]
    fn each_insecure_setting_is_named_by_its_own_warning() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("SECURE_HSTS_SECONDS", "0")], "security.W004"),
            (
                &[("SECURE_HSTS_INCLUDE_SUBDOMAINS", "false")],
                "security.W005",
            ),
            (&[("SECURE_SSL_REDIRECT", "false")], "security.W008"),
            (
                &[("SECRET_KEY", "0123456789012345678901234567890123456789")],
                "security.W009",
            ),
            (
                &[(
                    "SECRET_KEY",
                    "abababababababababababababababababababababababababababab",
                )],
                "security.W009",
            ),
            (&[("SESSION_COOKIE_HTTPONLY", "false")], "security.W013"),
            (&[("CSRF_COOKIE_SECURE", "false")], "security.W016"),
            (&[("ALLOWED_HOSTS", "*")], "guestbook.W001"),
            (
                &[("TRUSTED_PROXIES", "10.0.0.0/8,0.0.0.0/0")],
                "guestbook.W002",
            ),
            (
                &[(
                    "SECRET_KEY_FALLBACKS",
                    "0123456789012345678901234567890123456789",
                )],
                "security.W025",
            ),
        ];
        for (changes, expected) in cases {
            assert_eq!(ids(&ready_but(changes)), [*expected], "{changes:?}");
        }
        // The session cookie's Secure flag brings the CSRF cookie's with it, as documented.
        assert_eq!(
            ids(&ready_but(&[("SESSION_COOKIE_SECURE", "false")])),
            ["security.W012", "security.W016"]
        );
    }
}
