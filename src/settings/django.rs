//! `DJANGO_COMPAT`: sharing sessions, users and CSRF tokens with a Django site (see the
//! README's "Beside a Django site"), and what goes with it: `PASSWORD_HASHERS`.

use actix_session_engines::settings::{SessionEngineKind, SessionSerializer, SessionSettings};
use django_hashers::Hasher;

use super::vars::{SettingsError, Vars};

/// What sharing with a Django site needs beyond the session settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DjangoSettings {
    /// The first of `PASSWORD_HASHERS`: how new and upgraded password hashes are written (every
    /// hasher this site knows verifies, whatever the list says).
    pub password_hasher: Hasher,
}

/// What `PASSWORD_HASHERS` accepts, for error messages.
const HASHERS_ACCEPTED: &str = "Django's hasher paths or names, the first of them \
    django.contrib.auth.hashers.PBKDF2PasswordHasher, Argon2PasswordHasher or \
    BCryptSHA256PasswordHasher (or pbkdf2_sha256, argon2, bcrypt_sha256)";

/// The Django settings when `DJANGO_COMPAT` is on (`session` holds it), `None` otherwise; and
/// the session settings checked against what a Django site can share.
pub(super) fn parse(
    vars: &Vars,
    session: &SessionSettings,
    secret_key_set: bool,
) -> Result<Option<DjangoSettings>, SettingsError> {
    let hashers = vars.list("PASSWORD_HASHERS");
    if !session.django_compat {
        if let Some(first) = hashers.first() {
            return Err(SettingsError {
                name: "PASSWORD_HASHERS",
                value: first.clone(),
                reason: "only used with DJANGO_COMPAT=true (otherwise passwords are argon2id, \
                         tuned by PASSWORD_ARGON2_*)"
                    .into(),
            });
        }
        return Ok(None);
    }
    if !session.engine.shares_with_django() {
        return Err(SettingsError {
            name: "SESSION_ENGINE",
            value: session.engine.name().into(),
            reason: format!(
                "with DJANGO_COMPAT, {}",
                SessionEngineKind::NOT_SHARED_WITH_DJANGO
            ),
        });
    }
    if session.serializer != SessionSerializer::Json {
        return Err(SettingsError {
            name: "SESSION_SERIALIZER",
            value: "msgpack".into(),
            reason: "DJANGO_COMPAT needs json, the only serializer Django reads".into(),
        });
    }
    if !secret_key_set {
        return Err(SettingsError {
            name: "SECRET_KEY",
            value: String::new(),
            reason: "DJANGO_COMPAT needs the Django site's SECRET_KEY (the key generated \
                     beside the database would sign nothing Django can read)"
                .into(),
        });
    }
    let password_hasher = match hashers.first() {
        None => Hasher::django_default(),
        Some(first) => Hasher::from_django_path(first).ok_or_else(|| SettingsError {
            name: "PASSWORD_HASHERS",
            value: first.clone(),
            reason: format!("expected {HASHERS_ACCEPTED}"),
        })?,
    };
    // The rest may name Django's other hashers (their hashes do not verify here), not typos.
    let djangos = |path: &str| {
        path.strip_prefix("django.contrib.auth.hashers.")
            .is_some_and(|name| name.ends_with("PasswordHasher"))
    };
    if let Some(unknown) = hashers
        .iter()
        .skip(1)
        .find(|path| Hasher::from_django_path(path).is_none() && !djangos(path))
    {
        return Err(SettingsError {
            name: "PASSWORD_HASHERS",
            value: unknown.clone(),
            reason: "expected Django's hasher paths (django.contrib.auth.hashers.*PasswordHasher) \
                     or pbkdf2_sha256, argon2, bcrypt_sha256"
                .into(),
        });
    }
    Ok(Some(DjangoSettings { password_hasher }))
}

#[cfg(test)]
mod tests {
    use super::{super::tests::settings, *};

    const KEY: &str = "a Django site's secret key, long enough to use";
    /// The engines `DJANGO_COMPAT` refuses.
    const UNSHAREABLE_ENGINES: [SessionEngineKind; 2] =
        [SessionEngineKind::Cache, SessionEngineKind::CachedDb];

    #[test]
    fn django_compat_is_off_by_default_and_then_takes_no_hashers() {
        let s = settings(&[]).unwrap();
        assert!(s.django.is_none());
        assert!(!s.session.django_compat);
        assert_eq!(s.session.user_key, "member_id");

        let err = settings(&[("PASSWORD_HASHERS", "argon2")]).unwrap_err();
        assert_eq!(err.name, "PASSWORD_HASHERS");
    }

    #[test]
    fn django_compat_writes_djangos_default_hash_and_records_djangos_login_keys() {
        let s = settings(&[("DJANGO_COMPAT", "true"), ("SECRET_KEY", KEY)]).unwrap();

        assert!(s.session.django_compat);
        assert_eq!(s.session.user_key, "_auth_user_id");
        assert_eq!(
            s.django,
            Some(DjangoSettings {
                password_hasher: Hasher::PBKDF2_SHA256
            })
        );
        let pasted = settings(&[
            ("DJANGO_COMPAT", "true"),
            ("SECRET_KEY", KEY),
            (
                "PASSWORD_HASHERS",
                "django.contrib.auth.hashers.Argon2PasswordHasher, \
                 django.contrib.auth.hashers.PBKDF2PasswordHasher",
            ),
        ])
        .unwrap();
        assert_eq!(pasted.django.unwrap().password_hasher, Hasher::ARGON2);
    }

    #[test]
    fn django_compat_refuses_what_django_cannot_share_naming_the_setting() {
        for engine in UNSHAREABLE_ENGINES {
            let err = settings(&[
                ("DJANGO_COMPAT", "true"),
                ("SECRET_KEY", KEY),
                ("SESSION_ENGINE", engine.name()),
            ])
            .unwrap_err();
            assert_eq!(err.name, "SESSION_ENGINE");
            assert!(err.to_string().contains("pickled"), "{err}");
        }
        let err = settings(&[
            ("DJANGO_COMPAT", "true"),
            ("SECRET_KEY", KEY),
            ("SESSION_SERIALIZER", "msgpack"),
        ])
        .unwrap_err();
        assert_eq!(err.name, "SESSION_SERIALIZER");
        let err = settings(&[("DJANGO_COMPAT", "true")]).unwrap_err();
        assert_eq!(err.name, "SECRET_KEY");
        let djangos_default_list = "django.contrib.auth.hashers.PBKDF2PasswordHasher, \
            django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher, \
            django.contrib.auth.hashers.Argon2PasswordHasher, \
            django.contrib.auth.hashers.BCryptSHA256PasswordHasher, \
            django.contrib.auth.hashers.ScryptPasswordHasher";
        let pasted = settings(&[
            ("DJANGO_COMPAT", "true"),
            ("SECRET_KEY", KEY),
            ("PASSWORD_HASHERS", djangos_default_list),
        ]);
        assert_eq!(
            pasted.unwrap().django.unwrap().password_hasher,
            Hasher::PBKDF2_SHA256
        );
        let typo = settings(&[
            ("DJANGO_COMPAT", "true"),
            ("SECRET_KEY", KEY),
            (
                "PASSWORD_HASHERS",
                "argon2, django.contrib.auth.hashers.Argon2Hasher",
            ),
        ]);
        assert_eq!(typo.unwrap_err().name, "PASSWORD_HASHERS");
        let err = settings(&[
            ("DJANGO_COMPAT", "true"),
            ("SECRET_KEY", KEY),
            (
                "PASSWORD_HASHERS",
                "django.contrib.auth.hashers.MD5PasswordHasher",
            ),
        ])
        .unwrap_err();
        assert_eq!(err.name, "PASSWORD_HASHERS");
        assert!(err.to_string().contains("pbkdf2_sha256"), "{err}");
    }
}
