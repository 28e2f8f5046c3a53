//! Where `SECRET_KEY` comes from: the setting, or, for a SQLite deployment that did not set
//! one, a random key kept in a file beside the database so sessions and CSRF cookies survive
//! restarts.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;

use crate::settings::{SecretKey, Settings};

/// The key to sign with.
///
/// # Errors
/// With PostgreSQL and no `SECRET_KEY` (every instance must sign alike); when the key file
/// beside a SQLite database cannot be read or made.
pub fn resolve(settings: &Settings) -> anyhow::Result<SecretKey> {
    match &settings.security.secret_key {
        Some(key) => Ok(key.clone()),
        None if settings.database.is_postgres() => anyhow::bail!(
            "SECRET_KEY must be set when DATABASE_URL is PostgreSQL: every instance sharing the database must sign with the same key"
        ),
        None => beside_database(&settings.database.sqlite_path()),
    }
}

/// The secret key kept beside the SQLite database (`<database>.secret-key`), made on first
/// start with owner-only permissions.
fn beside_database(database: &Path) -> anyhow::Result<SecretKey> {
    let mut path = PathBuf::from(database);
    path.as_mut_os_string().push(".secret-key");
    let key = match fs::read(&path) {
        Ok(bytes) => {
            let bytes = String::from_utf8_lossy(&bytes).trim().as_bytes().to_vec();
            SecretKey::new(bytes).map_err(|reason| {
                anyhow::anyhow!("the secret key file {} {reason}", path.display())
            })?
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let key: String = {
                use rand::{Rng, distr::Alphanumeric};
                rand::rng()
                    .sample_iter(&Alphanumeric)
                    .take(50)
                    .map(char::from)
                    .collect()
            };
            write_owner_only(&path, key.as_bytes())
                .with_context(|| format!("cannot write the secret key file {}", path.display()))?;
            SecretKey::new(key.into_bytes()).map_err(anyhow::Error::msg)?
        }
        Err(err) => {
            return Err(err)
                .with_context(|| format!("cannot read the secret key file {}", path.display()));
        }
    };
    tracing::warn!(
        file = %path.display(),
        "SECRET_KEY is not set: using the generated key in this file. Set SECRET_KEY in production, the same on every instance."
    );
    Ok(key)
}

fn write_owner_only(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}
