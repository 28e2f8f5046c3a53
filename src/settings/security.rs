//! Secrets, trusted peers and password cost: `SECRET_KEY`, `SECRET_KEY_FALLBACKS`,
//! `TRUSTED_PROXIES`, `CSRF_TRUSTED_ORIGINS`, `PASSWORD_ARGON2_*`.

use std::{fmt, net::IpAddr};

use ipnet::IpNet;

use super::vars::{SettingsError, Vars};

/// The shortest `SECRET_KEY` accepted, in bytes.
pub const MIN_SECRET_KEY_LEN: usize = 32;

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
}

impl SecuritySettings {
    pub(super) fn parse(vars: &Vars) -> Result<Self, SettingsError> {
        Ok(Self {
            password_hash: PasswordHashParams::parse(vars)?,
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

/// A secret of at least [`MIN_SECRET_KEY_LEN`] bytes; never printed.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// # Errors
    /// When the key is shorter than [`MIN_SECRET_KEY_LEN`] bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, String> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_KEY_LEN {
            return Err(format!(
                "must be at least {MIN_SECRET_KEY_LEN} bytes long (got {})",
                bytes.len()
            ));
        }
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
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
