//! Secrets, trusted peers, password cost and the limits that keep one client from hurting the
//! others: `SECRET_KEY`, `SECRET_KEY_FALLBACKS`, `ALLOWED_HOSTS`, `TRUSTED_PROXIES`,
//! `CSRF_TRUSTED_ORIGINS`, `PASSWORD_ARGON2_*`, `PASSWORD_HASH_*`, `LOGIN_THROTTLE_*`.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use ipnet::IpNet;

use super::vars::{SettingsError, Vars};

pub use actix_session_engines::signing::{MIN_SECRET_KEY_LEN, SecretKey};

#[derive(Clone, Debug)]
pub struct SecuritySettings {
    /// `SECRET_KEY`; `None` means "generate one and keep it beside the database".
    pub secret_key: Option<SecretKey>,
    /// `SECRET_KEY_FALLBACKS`: older keys still accepted when verifying signed values.
    pub secret_key_fallbacks: Vec<SecretKey>,
    /// `TRUSTED_PROXIES`: whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// `CSRF_TRUSTED_ORIGINS`: origins besides the site's own accepted by the CSRF check.
    pub csrf_trusted_origins: Vec<String>,
    /// `PASSWORD_ARGON2_*`: cost of new password hashes.
    pub password_hash: PasswordHashParams,
    /// `PASSWORD_HASH_*`: the threads that hash and verify passwords, and their queue.
    pub password_work: PasswordWork,
    /// `LOGIN_THROTTLE_*`: when failed logins (and sign-ups) get a `429`.
    pub login_throttle: LoginThrottle,
    /// `ALLOWED_HOSTS`: the `Host` names this site answers to.
    pub allowed_hosts: AllowedHosts,
    /// `CSRF_COOKIE_SECURE`: the CSRF cookie only over HTTPS; unset, as
    /// `SESSION_COOKIE_SECURE` (a site that secures one cookie means both).
    pub csrf_cookie_secure: bool,
    /// `CSRF_COOKIE_DOMAIN`: the CSRF cookie for a whole domain (a site sharing it with a
    /// Django site on another subdomain); unset, only the host that set it.
    pub csrf_cookie_domain: Option<String>,
}

impl SecuritySettings {
    pub(super) fn parse(
        vars: &Vars,
        bind_addr: SocketAddr,
        session_cookie_secure: bool,
    ) -> Result<Self, SettingsError> {
        Ok(Self {
            csrf_cookie_secure: vars.flag("CSRF_COOKIE_SECURE", session_cookie_secure)?,
            csrf_cookie_domain: vars.get("CSRF_COOKIE_DOMAIN"),
            password_hash: PasswordHashParams::parse(vars)?,
            password_work: PasswordWork::parse(vars)?,
            login_throttle: LoginThrottle::parse(vars)?,
            allowed_hosts: AllowedHosts::parse(vars, bind_addr),
            csrf_trusted_origins: csrf_trusted_origins(vars)?,
            trusted_proxies: trusted_proxies(vars)?,
            secret_key: vars
                .get("SECRET_KEY")
                .map(|key| {
                    SecretKey::new(key).map_err(|reason| SettingsError {
                        name: "SECRET_KEY",
                        value: "(hidden)".into(),
                        reason,
                    })
                })
                .transpose()?,
            secret_key_fallbacks: vars
                .list("SECRET_KEY_FALLBACKS")
                .into_iter()
                .map(|key| {
                    SecretKey::new(key).map_err(|reason| SettingsError {
                        name: "SECRET_KEY_FALLBACKS",
                        value: "(hidden)".into(),
                        reason: format!("every key {reason}"),
                    })
                })
                .collect::<Result<_, _>>()?,
        })
    }
}

/// `CSRF_TRUSTED_ORIGINS`, each without a trailing slash.
fn csrf_trusted_origins(vars: &Vars) -> Result<Vec<String>, SettingsError> {
    vars.list("CSRF_TRUSTED_ORIGINS")
        .into_iter()
        .map(|origin| {
            if origin.starts_with("https://") || origin.starts_with("http://") {
                Ok(origin.trim_end_matches('/').to_owned())
            } else {
                Err(SettingsError {
                    name: "CSRF_TRUSTED_ORIGINS",
                    value: origin,
                    reason: "expected origins like https://example.com".into(),
                })
            }
        })
        .collect()
}

/// `TRUSTED_PROXIES`: addresses (`10.0.0.5`) and CIDR ranges (`10.0.0.0/8`, `::1/128`).
fn trusted_proxies(vars: &Vars) -> Result<Vec<IpNet>, SettingsError> {
    let entries = vars.list("TRUSTED_PROXIES");
    let parsed: Option<Vec<IpNet>> = entries
        .iter()
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .ok()
        })
        .collect();
    parsed.ok_or_else(|| SettingsError {
        name: "TRUSTED_PROXIES",
        value: vars.get("TRUSTED_PROXIES").unwrap_or_default(),
        reason: "expected addresses or CIDR ranges, comma-separated".into(),
    })
}

/// `PASSWORD_HASH_THREADS` and `PASSWORD_HASH_QUEUE`: password work runs on threads of its
/// own, never the ones that serve pages or the database, and at most `queue` logins wait for
/// them; past that a login is a `503` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordWork {
    pub threads: usize,
    pub queue: usize,
}

impl PasswordWork {
    fn parse(vars: &Vars) -> Result<Self, SettingsError> {
        // Half the cores by default: logins never take all of them from the pages.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let default_threads = cores.div_ceil(2) as i64;
        Ok(Self {
            threads: vars.ranged("PASSWORD_HASH_THREADS", default_threads, 1, 64)? as usize,
            queue: vars.ranged("PASSWORD_HASH_QUEUE", 16, 0, 10_000)? as usize,
        })
    }
}

/// `LOGIN_THROTTLE_*`: failures allowed within `window` for one (username, client address)
/// pair and for one address (sign-up attempts count per address too) before further attempts
/// are refused with `429`, without running the password hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginThrottle {
    pub per_user: u64,
    pub per_address: u64,
    pub window: Duration,
}

impl LoginThrottle {
    fn parse(vars: &Vars) -> Result<Self, SettingsError> {
        Ok(Self {
            per_user: vars.ranged("LOGIN_THROTTLE_PER_USER", 5, 1, 1_000_000)? as u64,
            per_address: vars.ranged("LOGIN_THROTTLE_PER_ADDRESS", 50, 1, 1_000_000)? as u64,
            window: Duration::from_secs(
                vars.ranged("LOGIN_THROTTLE_WINDOW", 900, 1, 7 * 86_400)? as u64
            ),
        })
    }
}

/// `ALLOWED_HOSTS`, as Django's: the host names (any case, no port) requests may address;
/// `.example.com` also allows its subdomains; `*` allows any host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowedHosts {
    Any,
    Only(Vec<String>),
}

impl AllowedHosts {
    /// Unset: the host `BIND_ADDR` names, `localhost`, `127.0.0.1` and `[::1]`.
    fn parse(vars: &Vars, bind_addr: SocketAddr) -> Self {
        let listed = vars.list("ALLOWED_HOSTS");
        if listed.iter().any(|host| host == "*") {
            return Self::Any;
        }
        if !listed.is_empty() {
            return Self::Only(listed.iter().map(|h| h.to_ascii_lowercase()).collect());
        }
        let bound = match bind_addr.ip() {
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        };
        Self::Only(vec![
            bound,
            "localhost".into(),
            "127.0.0.1".into(),
            "[::1]".into(),
        ])
    }

    /// Whether a request's `Host` header (with or without a port) is allowed.
    pub fn allows(&self, host_header: &str) -> bool {
        let Self::Only(hosts) = self else {
            return true;
        };
        let host = strip_port(host_header).to_ascii_lowercase();
        !host.is_empty()
            && hosts.iter().any(|allowed| match allowed.strip_prefix('.') {
                Some(domain) => host == domain || host.ends_with(allowed.as_str()),
                None => host == *allowed,
            })
    }
}

/// `host[:port]` or `[v6]:port` without the port.
fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            // `[::1]` ends in `]`; a bare v6 address (no brackets) is not a valid Host.
            if name.starts_with('[') || !name.contains(':') {
                name
            } else {
                host
            }
        }
        _ => host,
    }
}

/// The argon2id cost of new hashes (existing hashes keep the cost they were made with).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordHashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordHashParams {
    /// OWASP's minimum for argon2id, which is also the argon2 crate's default.
    fn default() -> Self {
        Self {
            memory_kib: argon2::Params::DEFAULT_M_COST,
            iterations: argon2::Params::DEFAULT_T_COST,
            parallelism: argon2::Params::DEFAULT_P_COST,
        }
    }
}

impl PasswordHashParams {
    /// The cheapest parameters argon2 accepts, for tests.
    pub const FAST_FOR_TESTS: Self = Self {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };

    fn parse(vars: &Vars) -> Result<Self, SettingsError> {
        let defaults = Self::default();
        let params = Self {
            memory_kib: vars.ranged(
                "PASSWORD_ARGON2_MEMORY_KIB",
                defaults.memory_kib.into(),
                8,
                4 * 1024 * 1024,
            )? as u32,
            iterations: vars.ranged(
                "PASSWORD_ARGON2_ITERATIONS",
                defaults.iterations.into(),
                1,
                100,
            )? as u32,
            parallelism: vars.ranged(
                "PASSWORD_ARGON2_PARALLELISM",
                defaults.parallelism.into(),
                1,
                16,
            )? as u32,
        };
        params.argon2_params().map_err(|reason| SettingsError {
            name: "PASSWORD_ARGON2_MEMORY_KIB",
            value: params.memory_kib.to_string(),
            reason,
        })?;
        Ok(params)
    }

    /// These parameters as argon2 takes them.
    ///
    /// # Errors
    /// When argon2 refuses the combination, with its reason.
    pub fn argon2_params(&self) -> Result<argon2::Params, String> {
        argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, None).map_err(|e| {
            format!(
                "argon2 refuses memory={} KiB, iterations={}, parallelism={}: {e}",
                self.memory_kib, self.iterations, self.parallelism
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{super::tests::settings, *};

    #[test]
    fn fallback_keys_are_a_comma_separated_list() {
        let key = "k".repeat(32);
        let s = settings(&[("SECRET_KEY_FALLBACKS", &format!("{key}, {key}"))]).unwrap();
        assert_eq!(s.security.secret_key_fallbacks.len(), 2);
        let err = settings(&[("SECRET_KEY_FALLBACKS", "short")]).unwrap_err();
        assert_eq!(err.name, "SECRET_KEY_FALLBACKS");
    }

    #[test]
    fn a_short_secret_key_is_refused_without_echoing_it() {
        let err = settings(&[("SECRET_KEY", "too-short-secret")]).unwrap_err();
        assert_eq!(err.name, "SECRET_KEY");
        assert!(!err.to_string().contains("too-short-secret"));
        assert!(err.to_string().contains("at least 32 bytes"));
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        let s = settings(&[("TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7 ,::1/128")]).unwrap();
        assert_eq!(
            s.security.trusted_proxies,
            ["10.0.0.0/8", "192.0.2.7/32", "::1/128"].map(|net| net.parse::<IpNet>().unwrap())
        );
        for bad in ["proxy.example", "10.0.0.0/33"] {
            let err = settings(&[("TRUSTED_PROXIES", bad)]).unwrap_err();
            assert_eq!(err.name, "TRUSTED_PROXIES", "{bad}");
            assert!(
                err.to_string().contains("addresses or CIDR ranges"),
                "{err}"
            );
        }
        assert!(settings(&[]).unwrap().security.trusted_proxies.is_empty());
    }

    #[test]
    fn csrf_trusted_origins_are_origins() {
        let s = settings(&[(
            "CSRF_TRUSTED_ORIGINS",
            "https://www.example.com/, http://b.example",
        )])
        .unwrap();
        assert_eq!(
            s.security.csrf_trusted_origins,
            ["https://www.example.com", "http://b.example"]
        );
        let err = settings(&[("CSRF_TRUSTED_ORIGINS", "www.example.com")]).unwrap_err();
        assert_eq!(err.name, "CSRF_TRUSTED_ORIGINS");
    }

    #[test]
    fn allowed_hosts_default_to_the_bound_host_and_loopback() {
        let s = settings(&[("BIND_ADDR", "10.1.2.3:8000")]).unwrap();
        let hosts = &s.security.allowed_hosts;
        for ok in [
            "10.1.2.3",
            "10.1.2.3:8000",
            "LOCALHOST:8000",
            "127.0.0.1:1",
            "[::1]:8000",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for refused in [
            "evil.example",
            "evil.example:8000",
            "",
            "10.1.2.3.evil.example",
        ] {
            assert!(!hosts.allows(refused), "{refused}");
        }
    }

    #[test]
    fn allowed_hosts_take_names_subdomain_patterns_and_a_star() {
        let s = settings(&[("ALLOWED_HOSTS", "www.example.com, .example.org")]).unwrap();
        let hosts = &s.security.allowed_hosts;
        assert!(hosts.allows("WWW.example.com:443"));
        assert!(hosts.allows("example.org") && hosts.allows("a.b.example.org"));
        assert!(!hosts.allows("example.com") && !hosts.allows("badexample.org"));
        assert!(!hosts.allows("localhost"), "the list replaces the default");

        let any = settings(&[("ALLOWED_HOSTS", "*")]).unwrap();
        assert!(any.security.allowed_hosts.allows("anything.example"));
    }

    #[test]
    fn throttles_and_password_work_have_limits() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            s.security.login_throttle,
            LoginThrottle {
                per_user: 5,
                per_address: 50,
                window: Duration::from_secs(900)
            }
        );
        assert_eq!(s.security.password_work.queue, 16);
        assert!(s.security.password_work.threads >= 1);
        let err = settings(&[("PASSWORD_HASH_THREADS", "0")]).unwrap_err();
        assert_eq!(err.name, "PASSWORD_HASH_THREADS");
        let err = settings(&[("LOGIN_THROTTLE_WINDOW", "forever")]).unwrap_err();
        assert_eq!(err.name, "LOGIN_THROTTLE_WINDOW");
    }

    #[test]
    fn password_costs_argon2_refuses_are_reported() {
        let bad = PasswordHashParams {
            memory_kib: 1,
            iterations: 1,
            parallelism: 1,
        };
        assert!(bad.argon2_params().unwrap_err().contains("memory=1 KiB"));
        let err = settings(&[
            ("PASSWORD_ARGON2_MEMORY_KIB", "8"),
            ("PASSWORD_ARGON2_PARALLELISM", "4"),
        ])
        .unwrap_err();
        assert_eq!(err.name, "PASSWORD_ARGON2_MEMORY_KIB");
    }
}
