//! What "your sessions" says about where a session is used from: a coarse description of the
//! browser, and the client's address as `TRUSTED_PROXIES` let us see it.

use actix_web::{HttpRequest, http::header};

use crate::security::proxies::TrustedProxies;

/// The request a session was last used by, as shown to its member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visit {
    pub device: String,
    pub address: Option<String>,
}

impl Visit {
    pub fn of(req: &HttpRequest, proxies: &TrustedProxies) -> Self {
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        Self {
            device: describe_device(user_agent),
            address: proxies.client(req).addr.map(|addr| addr.to_string()),
        }
    }
}

/// "Firefox on Linux", "Safari on iPhone", "curl": enough for a member to recognise their own
/// devices, no more (the full User-Agent is not kept).
pub fn describe_device(user_agent: &str) -> String {
    // Order matters: Edge and Opera say "Chrome", Chrome says "Safari", Android says "Linux".
    const BROWSERS: &[(&str, &str)] = &[
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("Wget/", "Wget"),
    ];
    const SYSTEMS: &[(&str, &str)] = &[
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ];
    let find = |table: &[(&str, &'static str)]| {
        table
            .iter()
            .find(|(marker, _)| user_agent.contains(marker))
            .map(|&(_, name)| name)
    };
    match (find(BROWSERS), find(SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("A browser on {system}"),
        (None, None) if user_agent.trim().is_empty() => "An unnamed client".to_owned(),
        (None, None) => "An unknown browser".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::describe_device;

    #[test]
    fn common_user_agents_get_a_coarse_name() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
                "Safari on macOS",
            ),
            ("curl/8.5.0", "curl"),
            ("", "An unnamed client"),
            ("<script>alert(1)</script>", "An unknown browser"),
        ];
        for (user_agent, expected) in cases {
            assert_eq!(describe_device(user_agent), expected, "{user_agent}");
        }
    }
}
